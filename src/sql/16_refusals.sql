-- 16_refusals.sql: refused documents (dead letters), their summary, and replay.
--
-- A document the cluster refuses for a non-retryable reason (a mapping
-- error, I6) is a row of dead_letter, one per document id of a target.  The
-- rows are the truth about completeness: reindex_status shows their number
-- and their reasons, the streamer keeps a job out of "ready" while they
-- exceed the job's budget max_refused (state needs_attention), and
-- reindex_swap_alias refuses such a job unless forced.
-- reindex_replay only records a request (table replay); a streamer carries it
-- out, because only a fresh exported snapshot gives the rows it reads again a
-- version that is correct under I1 (src/streamer/replay.c):
--   * every transaction visible in that snapshot has end_lsn <= its
--     consistent point C, every later one has end_lsn > C; the rows are sent
--     with version C (external), so no older streamed write can replace them
--     and every newer one does (external_gte);
--   * a dead letter newer than C (refused again while the replay ran) is
--     neither resent nor removed;
--   * a dead letter is removed only when the cluster accepted what was sent
--     (or answered 409: it already holds something newer).

-- Documents of a target refused now (the rows of dead_letter), counting at
-- most up_to + 1 of them when up_to is given (cheap "more than the budget?").
CREATE FUNCTION _refused_documents(target_id bigint, up_to bigint DEFAULT NULL) RETURNS bigint
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT count(*) FROM (SELECT FROM reindex.dead_letter d
						   WHERE d.target_id = _refused_documents.target_id
						   LIMIT CASE WHEN up_to IS NOT NULL THEN up_to + 1 END) s
$$;
COMMENT ON FUNCTION _refused_documents(bigint, bigint) IS 'internal: number of dead letters of a target (at most up_to + 1 counted)';

-- The reason of one refusal without what is particular to the document (its
-- id, a preview of the value, the parser position), so that refusals group.
CREATE FUNCTION _refusal_reason(error jsonb) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT concat_ws(': ', error ->> 'type',
					 regexp_replace(regexp_replace(coalesce(error ->> 'reason', error::text),
												   '^\[[0-9]+:[0-9]+\] ', ''),
									' in document with id .*$', ''))
$$;
COMMENT ON FUNCTION _refusal_reason(jsonb) IS 'internal: the error type and reason of a dead letter, without the document''s id and value';

-- "20,000 documents refused: <type>: <reason> (20,000)[; ...]" (NULL: none).
CREATE FUNCTION _refusal_summary(target_id bigint, groups integer DEFAULT 3) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	WITH g AS (
		SELECT reindex._refusal_reason(d.error) AS reason, count(*) AS n
		  FROM reindex.dead_letter d WHERE d.target_id = _refusal_summary.target_id
		 GROUP BY 1),
	ranked AS (
		SELECT reason, n, row_number() OVER (ORDER BY n DESC, reason) AS rank,
			   sum(n) OVER () AS total, count(*) OVER () AS kinds
		  FROM g)
	SELECT format('%s %s refused: %s%s',
				  to_char(max(total), 'FM999,999,999,999,999'),
				  CASE WHEN max(total) = 1 THEN 'document' ELSE 'documents' END,
				  string_agg(format('%s (%s)', reason, to_char(n, 'FM999,999,999,999,999')),
							 '; ' ORDER BY rank) FILTER (WHERE rank <= groups),
				  CASE WHEN max(kinds) > groups
					   THEN format('; %s other reasons', max(kinds) - groups) ELSE '' END)
	  FROM ranked
	HAVING count(*) > 0
$$;
COMMENT ON FUNCTION _refusal_summary(bigint, integer) IS 'internal: count of a target''s refused documents and their most frequent reasons, with counts';

CREATE FUNCTION reindex_replay(job bigint) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	j reindex.job;
	t reindex.target;
	n bigint;
	stopped boolean;
BEGIN
	j := reindex._lock_job(job);
	IF j.state NOT IN ('backfilling', 'catching_up', 'ready', 'needs_attention', 'swapped',
					   'rolled_back') THEN
		RAISE EXCEPTION 'reindex job % cannot replay its refused documents', j.id
			USING ERRCODE = 'object_not_in_prerequisite_state',
			DETAIL = format('It is in state "%s"; its new index is no longer fed.', j.state),
			HINT = 'Start a new reindex with reindex_begin().';
	END IF;
	SELECT * INTO STRICT t FROM reindex.target x WHERE x.id = j.new_target;
	n := reindex._refused_documents(t.id);
	stopped := j.state = 'needs_attention' AND t.state = 'backfilling';
	IF stopped THEN
		-- the backfill stopped early: it goes on (from a fresh snapshot, I2)
		UPDATE reindex.job SET state = 'backfilling', error = NULL WHERE id = j.id;
	END IF;
	IF n = 0 THEN
		IF NOT stopped THEN
			RAISE NOTICE 'reindex job % has no refused documents to replay', j.id;
		END IF;
		RETURN 0;
	END IF;
	IF NOT EXISTS (SELECT FROM reindex.replay r WHERE r.target_id = t.id AND r.state = 'pending') THEN
		INSERT INTO reindex.replay (target_id, requested_by) VALUES (t.id, session_user);
	END IF;
	PERFORM pg_notify('reindex', json_build_object('job', j.id, 'target', t.id,
												   'state', 'replay')::text);
	RETURN n;
END
$$;
COMMENT ON FUNCTION reindex_replay(bigint) IS 'resend the refused documents (dead letters) of a job''s new index after their cause was fixed: a streamer reads each row again by its key under a fresh snapshot, sends it (or a delete when the row is gone) with that snapshot''s version, and removes the dead letters the cluster accepted; a backfill that stopped early goes on; returns the number of dead letters queued';
