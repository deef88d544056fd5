-- 30_document.sql: the document encoder's SQL entry points (src/plugin/).
--
-- Both render a row exactly as the output plugin `reindex` does: they return
-- "<id> <document>", byte for byte the tail of the plugin's index line after
-- "<relation> " (src/plugin/WIRE-FORMAT.md).  The backfill reads every row
-- through document(); refetch events are resolved with document_by_key();
-- reindex_verify looks for documents without a row with absent_ids().
-- Neither is SECURITY DEFINER: the caller needs SELECT on the table.  EXECUTE
-- is revoked from PUBLIC; grant_streamer() grants it to the streamer's role.

CREATE FUNCTION document(rel regclass, r record,
						 include_columns text[] DEFAULT NULL,
						 exclude_columns text[] DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'reindex_document'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION document(regclass, record, text[], text[]) IS
	'"<id> <document>" of a row of rel, as the output plugin renders it';

CREATE FUNCTION document_by_key(rel regclass, key jsonb,
								include_columns text[] DEFAULT NULL,
								exclude_columns text[] DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'reindex_document_by_key'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION document_by_key(regclass, jsonb, text[], text[]) IS
	'"<id> <document>" of the current row of rel with this key (a refetch event''s key object), or NULL';

CREATE FUNCTION absent_ids(rel regclass, ids jsonb)
RETURNS SETOF text
AS 'MODULE_PATHNAME', 'reindex_absent_ids'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION absent_ids(regclass, jsonb) IS
	'the document ids of a JSON array that no row of rel has (in the caller''s snapshot); an id that cannot be one of rel''s is absent';

REVOKE EXECUTE ON FUNCTION document(regclass, record, text[], text[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION absent_ids(regclass, jsonb) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION document_by_key(regclass, jsonb, text[], text[]) FROM PUBLIC;

CREATE FUNCTION document_by_id(rel regclass, id text,
							   include_columns text[] DEFAULT NULL,
							   exclude_columns text[] DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'reindex_document_by_id'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION document_by_id(regclass, text, text[], text[]) IS
	'"<id> <document>" of the current row of rel whose document id is id (a dead letter''s doc_id), or NULL';
REVOKE EXECUTE ON FUNCTION document_by_id(regclass, text, text[], text[]) FROM PUBLIC;
