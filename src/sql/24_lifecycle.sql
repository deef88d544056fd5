-- 24_lifecycle.sql: swap, rollback, finish and cancel.
--
-- State rules (job states; see 10_catalog.sql):
--   swap      ready | rolled_back (| catching_up, needs_attention with force)
--             -> swapped; without force it also checks that no more documents
--             are refused than the budget max_refused and that the index
--             holds as many documents as the table has rows, but for refused
--             ones (a swap is a promise: nothing the table holds is missing)
--   rollback  swapped -> rolled_back (alias back to the old index, or to none
--             for an initial build)
--   finish    swapped -> completed; the old target retires (slot dropped,
--             index deleted when asked)
--   cancel    backfilling | catching_up | ready | needs_attention | rolled_back | failed
--             -> cancelled; the new target retires and its index is deleted
-- Each call is idempotent: repeating it after success only says so (NOTICE).
-- Alias changes: the catalog rows are changed first, then one atomic
-- POST /_aliases is sent, all in the caller's transaction, so an HTTP failure
-- rolls the catalog back and the cluster stays as it was.  Only the rows of
-- the alias and the job are locked; reindex_status never waits for them.

-- The alias and its active job, locked; an error when there is none.
CREATE FUNCTION _lock_active_job(alias text) RETURNS reindex.job
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	j reindex.job;
BEGIN
	PERFORM FROM reindex.alias a WHERE a.name = _lock_active_job.alias FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'alias "%" does not exist', alias
			USING ERRCODE = 'undefined_object';
	END IF;
	SELECT * INTO j FROM reindex.job x
	 WHERE x.alias = _lock_active_job.alias
	   AND x.state IN ('backfilling', 'catching_up', 'ready', 'needs_attention', 'swapped', 'rolled_back')
	   FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'alias "%" has no active reindex job', alias
			USING ERRCODE = 'object_not_in_prerequisite_state',
			HINT = 'Start one with reindex_begin().';
	END IF;
	RETURN j;
END
$$;
COMMENT ON FUNCTION _lock_active_job(text) IS 'internal: lock an alias and its active job';

-- Point the alias from one target's index to another's (either may be NULL).
CREATE FUNCTION _move_alias(alias text, from_target bigint, to_target bigint) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	ep text;
	actions jsonb := '[]';
	idx text;
BEGIN
	SELECT a.endpoint INTO ep FROM reindex.alias a WHERE a.name = _move_alias.alias;
	UPDATE reindex.alias a SET current_target = to_target WHERE a.name = _move_alias.alias;
	IF from_target IS NOT NULL THEN
		SELECT index_name INTO idx FROM reindex.target WHERE id = from_target;
		actions := actions || jsonb_build_array(jsonb_build_object('remove',
			jsonb_build_object('index', idx, 'alias', alias)));
	END IF;
	IF to_target IS NOT NULL THEN
		SELECT index_name INTO idx FROM reindex.target WHERE id = to_target;
		actions := actions || jsonb_build_array(jsonb_build_object('add',
			jsonb_build_object('index', idx, 'alias', alias)));
	END IF;
	PERFORM reindex._es_call(ep, format('move alias "%s"', alias), 'POST', '/_aliases',
							 jsonb_build_object('actions', actions)::text);
END
$$;
COMMENT ON FUNCTION _move_alias(text, bigint, bigint) IS 'internal: catalog change plus one atomic POST /_aliases moving an alias between targets';

-- Does the new index hold a document for every row of the table, except
-- refused ones?  Under concurrent writes the row count moves while it is
-- compared, so each attempt brackets the document count: rows are counted
-- under a snapshot taken before WAL position pos (n1), the documents once the
-- index is refreshed (from the second attempt on, once the target has also
-- confirmed pos), and the rows again after that (n2).  The documents then reflect the table at some point
-- between the two row counts, so a complete index has between least(n1, n2)
-- and greatest(n1, n2) documents, give or take the refused ones.  A quiet
-- table makes this exact (n1 = n2).  An attempt outside the bracket is
-- repeated (a mix of inserts and deletes can leave it for a moment), at most
-- five times within 30 seconds, before the swap is refused.
CREATE FUNCTION _check_complete(j reindex.job, refused bigint) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	t reindex.target;
	n1 bigint;
	n2 bigint;
	ndocs bigint;
	pos pg_lsn;
	deadline timestamptz := clock_timestamp() + interval '30 seconds';
BEGIN
	SELECT * INTO STRICT t FROM reindex.target x WHERE x.id = j.new_target;
	FOR attempt IN 1..5 LOOP
		EXECUTE format('SELECT count(*) FROM %s', t.source) INTO n1;
		pos := CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_insert_lsn() END;
		-- the first attempt takes the index as it is (the lag is under its
		-- threshold); later ones wait for a streamer that reports (not for
		-- one that is gone) to confirm pos first
		WHILE attempt > 1 AND coalesce(reindex._target_confirmed_lsn(t.id) < pos, true)
			  AND clock_timestamp() < deadline
			  AND (SELECT x.heartbeat_at > clock_timestamp() - interval '1 minute'
					 FROM reindex.target x WHERE x.id = t.id) LOOP
			PERFORM pg_sleep(0.01);
		END LOOP;
		IF attempt > 1 AND coalesce(reindex._target_confirmed_lsn(t.id) < pos, true) THEN
			RAISE EXCEPTION 'reindex job % is not ready to swap', j.id
				USING ERRCODE = 'object_not_in_prerequisite_state',
				DETAIL = format('Table %s has %s rows, and the streamer did not confirm WAL position %s (within 30 seconds) after which index "%s" must hold a document for each of them.',
								t.source_name, n1, pos, t.index_name),
				HINT = 'Is the streamer running?  Try again, or pass force => true.';
		END IF;
		PERFORM reindex._es_call(t.endpoint, format('refresh index "%s"', t.index_name), 'POST',
								 '/' || t.index_name || '/_refresh');
		ndocs := (reindex._es_call(t.endpoint, format('count the documents of index "%s"', t.index_name),
								   'GET', '/' || t.index_name || '/_count') ->> 'count')::bigint;
		EXECUTE format('SELECT count(*) FROM %s', t.source) INTO n2;
		IF ndocs BETWEEN least(n1, n2) - refused AND greatest(n1, n2) + refused THEN
			RETURN;
		END IF;
		EXIT WHEN clock_timestamp() >= deadline;
	END LOOP;
	IF n1 = n2 THEN
		RAISE EXCEPTION 'index "%" lacks documents of table %', t.index_name, t.source_name
			USING ERRCODE = 'object_not_in_prerequisite_state',
			DETAIL = format('The table has %s rows and the index %s documents; %s refused documents do not explain the difference of %s.',
							n1, ndocs, refused, abs(n1 - ndocs)),
			HINT = 'Compare them document by document with reindex_verify(), or pass force => true to swap anyway.';
	END IF;
	RAISE EXCEPTION 'index "%" lacks documents of table %', t.index_name, t.source_name
		USING ERRCODE = 'object_not_in_prerequisite_state',
		DETAIL = format('The table had %s rows before and %s rows after the index was counted at %s documents; %s refused documents do not explain the difference of %s (concurrent writes changed the table while it was compared, in this and each earlier attempt).',
						n1, n2, ndocs, refused,
						least(abs(n1 - ndocs), abs(n2 - ndocs))),
		HINT = 'Compare them document by document with reindex_verify(), or pass force => true to swap anyway.';
END
$$;
COMMENT ON FUNCTION _check_complete(reindex.job, bigint) IS 'internal: refuse when the new index''s document count, taken between two counts of the table''s rows, lies outside them by more than the refused documents';

CREATE FUNCTION reindex_swap_alias(alias text, force boolean DEFAULT false) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	j reindex.job;
	lag numeric;
	budget bigint;
	refused bigint;
BEGIN
	j := reindex._lock_active_job(alias);
	IF j.state = 'swapped' THEN
		RAISE NOTICE 'alias "%" already points to the new index of reindex job %', alias, j.id;
		RETURN j.id;
	END IF;
	IF j.state = 'backfilling' THEN
		RAISE EXCEPTION 'reindex job % is not ready to swap', j.id
			USING ERRCODE = 'object_not_in_prerequisite_state',
			DETAIL = 'The new index is still being backfilled.',
			HINT = 'Wait until reindex_status() reports state "ready".';
	END IF;
	IF j.state = 'needs_attention' AND
		(SELECT t.state FROM reindex.target t WHERE t.id = j.new_target) = 'backfilling' THEN
		RAISE EXCEPTION 'reindex job % is not ready to swap', j.id
			USING ERRCODE = 'object_not_in_prerequisite_state',
			DETAIL = coalesce(upper(left(j.error, 1)) || substr(j.error, 2) || '.',
							  'Its backfill stopped early: too many documents were refused.'),
			HINT = 'Fix the mapping and begin again, or fix the cause and call reindex_replay() to let the backfill go on.';
	END IF;
	lag := reindex._target_lag_bytes(j.new_target);
	IF NOT coalesce(force, false) THEN
		budget := coalesce((j.options ->> 'max_refused')::bigint, 0);
		refused := reindex._refused_documents(j.new_target, budget);
		IF refused > budget THEN
			RAISE EXCEPTION 'reindex job % has more refused documents than its budget', j.id
				USING ERRCODE = 'object_not_in_prerequisite_state',
				DETAIL = format('%s.  The budget (option max_refused) is %s.',
								reindex._refusal_summary(j.new_target), budget),
				HINT = 'Fix the mapping and begin again, or fix the cause and call reindex_replay(), or pass force => true to swap to an index without them.';
		END IF;
		IF j.state NOT IN ('ready', 'rolled_back') THEN
			RAISE EXCEPTION 'reindex job % is not ready to swap', j.id
				USING ERRCODE = 'object_not_in_prerequisite_state',
				DETAIL = format('It is in state "%s".', j.state),
				HINT = 'Wait until reindex_status() reports state "ready", or pass force => true to swap while it catches up.';
		END IF;
		IF lag IS NULL OR lag > j.lag_threshold_bytes THEN
			RAISE EXCEPTION 'reindex job % is not ready to swap', j.id
				USING ERRCODE = 'object_not_in_prerequisite_state',
				DETAIL = format('The new index lags %s bytes of WAL behind, more than the threshold of %s bytes.',
								coalesce(lag::text, 'an unknown number of'), j.lag_threshold_bytes),
				HINT = 'Wait until reindex_status() shows lag_bytes below the threshold (is the streamer running?), or pass force => true.';
		END IF;
		PERFORM reindex._check_complete(j, refused);
	END IF;
	IF NOT coalesce(force, false) AND coalesce((j.options ->> 'require_verified')::boolean, false)
		AND NOT reindex._verified_clean(j.new_target) THEN
		RAISE EXCEPTION 'reindex job % has no clean verify of its new index', j.id
			USING ERRCODE = 'object_not_in_prerequisite_state',
			DETAIL = format('The job was started with require_verified; the newest finished verify of index "%s" %s.',
							(SELECT t.index_name FROM reindex.target t WHERE t.id = j.new_target),
							coalesce((SELECT 'found: ' || s.verify FROM reindex._verify_summary(j.new_target) s
									   WHERE s.verify IS NOT NULL), 'does not exist')),
			HINT = format('Run SELECT reindex.reindex_verify(%L) and reindex_verify_wait() on its id (with repair => true to fix what it finds, then verify again), or pass force => true.',
						  (SELECT t.index_name FROM reindex.target t WHERE t.id = j.new_target));
	END IF;
	UPDATE reindex.job SET state = 'swapped' WHERE id = j.id;
	PERFORM reindex._move_alias(alias,
		(SELECT a.current_target FROM reindex.alias a WHERE a.name = reindex_swap_alias.alias),
		j.new_target);
	RETURN j.id;
END
$$;
COMMENT ON FUNCTION reindex_swap_alias(text, boolean) IS 'point the alias at the new index of its ready job: one atomic _aliases request plus the catalog change, in one transaction; refuses an index with more refused documents than the budget max_refused, or whose document count differs from the table''s row count by more than its refused documents; force => true swaps anyway (also a job still catching up, or, with the job option require_verified, one without a clean verify); idempotent';

CREATE FUNCTION reindex_rollback(alias text) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	j reindex.job;
	last reindex.job;
BEGIN
	PERFORM FROM reindex.alias a WHERE a.name = reindex_rollback.alias;
	IF FOUND AND NOT EXISTS (SELECT FROM reindex.job x WHERE x.alias = reindex_rollback.alias
								AND x.state IN ('backfilling', 'catching_up', 'ready', 'needs_attention', 'swapped', 'rolled_back')) THEN
		SELECT * INTO last FROM reindex.job x WHERE x.alias = reindex_rollback.alias
		 ORDER BY x.id DESC LIMIT 1;
		IF last.state = 'completed' THEN
			RAISE EXCEPTION 'reindex job % of alias "%" is completed', last.id, alias
				USING ERRCODE = 'object_not_in_prerequisite_state',
				DETAIL = 'The old index is no longer fed, so the alias cannot go back to it.',
				HINT = 'Start a new reindex with reindex_begin() instead.';
		END IF;
	END IF;
	j := reindex._lock_active_job(alias);
	IF j.state = 'rolled_back' THEN
		RAISE NOTICE 'reindex job % is already rolled back', j.id;
		RETURN j.id;
	END IF;
	IF j.state <> 'swapped' THEN
		RAISE EXCEPTION 'reindex job % has not been swapped', j.id
			USING ERRCODE = 'object_not_in_prerequisite_state',
			DETAIL = format('It is in state "%s"; the alias still points to the old index.', j.state),
			HINT = 'To abandon the job, call reindex_cancel().';
	END IF;
	UPDATE reindex.job SET state = 'rolled_back' WHERE id = j.id;
	PERFORM reindex._move_alias(alias, j.new_target, j.old_target);
	RETURN j.id;
END
$$;
COMMENT ON FUNCTION reindex_rollback(text) IS 'point the alias back at the old index (still fed) after a swap; for an initial build the alias is removed; idempotent';

-- The job, locked; an error when it does not exist.
CREATE FUNCTION _lock_job(job bigint) RETURNS reindex.job
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	j reindex.job;
BEGIN
	-- lock the alias first, as swap and rollback do, so they cannot deadlock
	PERFORM FROM reindex.alias a JOIN reindex.job x ON x.alias = a.name
	 WHERE x.id = _lock_job.job FOR UPDATE OF a;
	SELECT * INTO j FROM reindex.job x WHERE x.id = _lock_job.job FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'reindex job % does not exist', coalesce(job::text, 'NULL')
			USING ERRCODE = 'undefined_object';
	END IF;
	RETURN j;
END
$$;
COMMENT ON FUNCTION _lock_job(bigint) IS 'internal: lock a job (and its alias)';

CREATE FUNCTION reindex_finish(job bigint, drop_old_index boolean DEFAULT false) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	j reindex.job;
BEGIN
	j := reindex._lock_job(job);
	IF j.state = 'completed' THEN
		RAISE NOTICE 'reindex job % is already completed', j.id;
		IF j.old_target IS NULL THEN
			RETURN NULL;
		END IF;
		RETURN reindex._retire_target(j.old_target, coalesce(drop_old_index, false));
	END IF;
	IF j.state <> 'swapped' THEN
		RAISE EXCEPTION 'reindex job % cannot be finished', j.id
			USING ERRCODE = 'object_not_in_prerequisite_state',
			DETAIL = format('It is in state "%s"; only a swapped job can be finished.', j.state),
			HINT = CASE WHEN j.state IN ('cancelled', 'failed') THEN 'Start a new reindex with reindex_begin().'
						WHEN j.state = 'rolled_back' THEN 'Swap the alias again with reindex_swap_alias(), or cancel the job with reindex_cancel().'
						ELSE 'Swap the alias with reindex_swap_alias() first.' END;
	END IF;
	UPDATE reindex.job SET state = 'completed' WHERE id = j.id;
	IF j.old_target IS NULL THEN
		RETURN NULL;
	END IF;
	RETURN reindex._retire_target(j.old_target, coalesce(drop_old_index, false));
END
$$;
COMMENT ON FUNCTION reindex_finish(bigint, boolean) IS 'complete a swapped job: stop feeding the old index and drop its slot (at once when no streamer holds it, else by the streamer), delete the old index when drop_old_index; returns the old target''s state; idempotent';

CREATE FUNCTION reindex_cancel(job bigint) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	j reindex.job;
BEGIN
	j := reindex._lock_job(job);
	IF j.state = 'cancelled' THEN
		RAISE NOTICE 'reindex job % is already cancelled', j.id;
		RETURN reindex._retire_target(j.new_target, true);
	END IF;
	IF j.state = 'swapped' THEN
		RAISE EXCEPTION 'reindex job % cannot be cancelled', j.id
			USING ERRCODE = 'object_not_in_prerequisite_state',
			DETAIL = 'The alias points to its new index.',
			HINT = 'Roll the alias back with reindex_rollback() first, or keep the new index with reindex_finish().';
	END IF;
	IF j.state = 'completed' THEN
		RAISE EXCEPTION 'reindex job % cannot be cancelled', j.id
			USING ERRCODE = 'object_not_in_prerequisite_state',
			DETAIL = 'It is completed.',
			HINT = 'Start a new reindex with reindex_begin() to go back.';
	END IF;
	UPDATE reindex.job SET state = 'cancelled' WHERE id = j.id;
	RETURN reindex._retire_target(j.new_target, true);
END
$$;
COMMENT ON FUNCTION reindex_cancel(bigint) IS 'abandon a job that is not swapped: stop feeding its new index, drop its slot and delete the index (at once when no streamer holds the slot, else by the streamer); returns the new target''s state; idempotent';
