-- 22_status.sql: reindex_status, answerable with no streamer running.
--
-- It only reads (plain MVCC snapshots, no row locks), so it never waits for
-- a swap, a rollback or the streamer.  Lag is computed here from the
-- server's current WAL position and the slot's confirmed position (or the
-- target's recorded confirmed LSN / consistent point), so it is right even
-- when the streamer is down; the streamer's own figures are shown next to
-- its heartbeat age.  While a job is under way the old index is still read
-- through the alias and still fed: its own lag, events applied and dead
-- letters are shown next to the new index's (old_* columns, NULL when the
-- job has no old index).  dead_lettered and old_dead_lettered are the
-- documents refused now: the rows of dead_letter (a replay removes what the
-- cluster accepted), not the streamer's cumulative counter.

CREATE FUNCTION reindex_status(alias text DEFAULT NULL)
RETURNS TABLE (alias text, job_id bigint, state text, old_index text, new_index text,
			   rows_backfilled bigint, rows_estimated bigint, percent_done numeric,
			   events_applied bigint, stale_rejected bigint, retried bigint,
			   dead_lettered bigint, lag_bytes numeric, lag_seconds float8,
			   heartbeat_age interval, streamer text, message text, last_error text,
			   started_at timestamptz, updated_at timestamptz,
			   old_events_applied bigint, old_dead_lettered bigint, old_lag_bytes numeric,
			   old_lag_seconds float8,
			   verified_at timestamptz, verify text, hint text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	SELECT j.alias, j.id, j.state, o.index_name, n.index_name,
		   n.rows_backfilled, n.rows_estimated,
		   CASE WHEN n.backfill_done_at IS NOT NULL THEN 100.0
				WHEN n.rows_estimated > 0
				THEN least(100.0, round(100.0 * n.rows_backfilled / n.rows_estimated, 1))
		   END,
		   n.events_applied, n.stale_rejected, n.retried, refused.n,
		   CASE WHEN active THEN reindex._target_lag_bytes(n.id) END,
		   CASE WHEN active THEN n.lag_seconds END,
		   date_trunc('second', clock_timestamp() - n.heartbeat_at),
		   n.streamer_id,
		   CASE WHEN j.state = 'completed' THEN 'completed'
				WHEN j.state = 'cancelled' THEN 'cancelled'
				WHEN j.state = 'failed' THEN 'failed: ' || coalesce(reindex._redact_error(j.error), 'no reason recorded')
				WHEN j.state = 'needs_attention' AND n.state = 'backfilling'
				THEN concat_ws('; ', coalesce(reindex._redact_error(j.error), 'backfill stopped early'),
							   reindex._redact_error(refused.summary))
				WHEN j.state = 'needs_attention'
				THEN coalesce(reindex._redact_error(refused.summary), 'documents were refused')
					 || format(' (budget max_refused: %s)', coalesce(j.options ->> 'max_refused', '0'))
				WHEN n.heartbeat_at IS NULL THEN 'waiting for a streamer'
				WHEN clock_timestamp() - n.heartbeat_at > interval '1 minute'
				THEN 'streamer heartbeat is older than a minute'
				WHEN j.state = 'backfilling' THEN 'backfilling'
				WHEN j.state = 'catching_up' THEN 'catching up'
				WHEN j.state = 'ready' THEN 'ready to swap'
				WHEN j.state = 'swapped' THEN 'swapped: finish with reindex_finish() or roll back with reindex_rollback()'
				WHEN j.state = 'rolled_back' THEN 'rolled back: swap again or cancel'
		   END,
		   reindex._redact_error(coalesce(n.last_error, j.error)),
		   j.created_at, greatest(j.updated_at, n.updated_at),
		   o.events_applied, CASE WHEN o.id IS NOT NULL THEN reindex._refused_documents(o.id) END,
		   CASE WHEN active THEN reindex._target_lag_bytes(o.id) END,
		   CASE WHEN active THEN o.lag_seconds END,
		   vs.verified_at, vs.verify,
		   CASE WHEN j.state = 'needs_attention' AND n.state = 'backfilling'
				THEN 'Fix the mapping and begin again (reindex_cancel(), then reindex_begin() with new mappings), or fix the cause (the data, or what the index accepts) and call reindex_replay(): it resends the refused documents and lets the backfill go on.'
				WHEN refused.n > 0 AND j.state IN ('needs_attention', 'ready', 'catching_up', 'rolled_back')
				THEN 'Fix the mapping and begin again (reindex_cancel(), then reindex_begin() with new mappings), or fix the cause (the data, or what the index accepts) and call reindex_replay() to resend them, or accept the missing documents with reindex_swap_alias(..., force => true).'
		   END
	  FROM reindex.job j
	  JOIN reindex.target n ON n.id = j.new_target
	  LEFT JOIN reindex.target o ON o.id = j.old_target
	  CROSS JOIN LATERAL (SELECT j.state IN ('backfilling', 'catching_up', 'ready', 'needs_attention',
											 'swapped', 'rolled_back') AS active) x
	  LEFT JOIN LATERAL reindex._verify_summary(n.id) vs ON true
	  CROSS JOIN LATERAL (SELECT reindex._refused_documents(n.id) AS n,
								 CASE WHEN j.state = 'needs_attention'
									  THEN reindex._refusal_summary(n.id) END AS summary) refused
	 WHERE reindex_status.alias IS NULL OR j.alias = reindex_status.alias
	 ORDER BY j.alias, j.id
$$;
COMMENT ON FUNCTION reindex_status(text) IS 'one row per reindex job (of one alias, or of all): state, indexes, backfill progress, events applied, stale writes rejected, documents refused now (dead letters), lag, streamer heartbeat age, a message (such as "waiting for a streamer", or the refused documents grouped by reason), the old index''s events applied, dead letters and lag while it is still fed, when the new index was last verified (reindex_verify) with what was found, and a hint on what to do';
