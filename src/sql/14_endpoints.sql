-- 14_endpoints.sql: managing search clusters (endpoints).
--
-- Secrets are write-only: endpoint_add/endpoint_alter store them, nothing
-- returns them; the view reindex.endpoints says only whether one is set.
-- Every value is checked before the row is written, so no constraint error
-- (whose detail would print the row, secret included) can happen, and no
-- message ever repeats a URL (it might hold credentials) or a secret.
--
-- A secret goes only where it was given for: changing the scheme, host or
-- port of an endpoint that keeps its secret, or turning its TLS
-- verification off, needs the secret again in the same call (or the
-- extension owner).  reindex.allowed_hosts (superuser-only, empty = any)
-- limits the hosts endpoints may name; the backend and the streamer check it
-- again on the address of every connection they open.  secret_file reads a
-- secret from a file the server can read, so it never appears in statement
-- text (log_min_error_statement logs a failing statement).

CREATE FUNCTION _endpoint_host_check(url text) RETURNS void
LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'reindex_endpoint_host_check';
COMMENT ON FUNCTION _endpoint_host_check(text) IS 'internal: error unless reindex.allowed_hosts allows the host of url (listed, or every address it resolves to)';

CREATE FUNCTION _caller_has_privs_of(role regrole) RETURNS boolean
LANGUAGE c STABLE STRICT AS 'MODULE_PATHNAME', 'reindex_caller_has_privs_of';
COMMENT ON FUNCTION _caller_has_privs_of(regrole) IS 'internal: whether the role calling the API (not the SECURITY DEFINER owner) has the privileges of role';

CREATE FUNCTION _secret_from_file(path text) RETURNS text
LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'reindex_secret_from_file';
COMMENT ON FUNCTION _secret_from_file(text) IS 'internal: a secret read from a server file (caller needs pg_read_server_files, or the file lies in reindex.secret_directory)';

-- scheme://host:port of a URL, with the default port spelled out
CREATE FUNCTION _endpoint_origin(url text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
	SELECT m[1] || '://' || lower(m[2]) || ':' ||
		   coalesce(nullif(m[3], ''), CASE m[1] WHEN 'https' THEN '443' ELSE '80' END)
	  FROM regexp_match(url, '^(https?)://(\[[^]/]*\]|[^/:]*)(?::([0-9]*))?') m
$$;
COMMENT ON FUNCTION _endpoint_origin(text) IS 'internal: scheme, host and port of an endpoint URL (where its secret is sent)';

-- the secret of a call: given as text, or read from secret_file
CREATE FUNCTION _secret_given(secret text, secret_file text) RETURNS text
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF secret_file IS NULL THEN
		RETURN secret;
	END IF;
	IF secret IS NOT NULL THEN
		RAISE EXCEPTION 'pass either secret or secret_file, not both'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	RETURN reindex._secret_from_file(secret_file);
END
$$;
COMMENT ON FUNCTION _secret_given(text, text) IS 'internal: the secret passed to endpoint_add/endpoint_alter, literally or as a file';

CREATE FUNCTION _endpoint_check(url text, auth text, username text, secret text,
								ca_file text) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF url IS NULL OR url !~ '^https?://[^/]' THEN
		RAISE EXCEPTION 'search endpoint URL must start with "http://" or "https://" followed by a host'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF substring(url FROM '^https?://([^/?#]*)') LIKE '%@%' THEN
		RAISE EXCEPTION 'search endpoint URL must not contain credentials'
			USING ERRCODE = 'invalid_parameter_value',
			HINT = 'Pass them as username and secret with auth => ''basic'', or as secret with auth => ''api_key''.';
	END IF;
	IF url ~ '[?#]' THEN
		RAISE EXCEPTION 'search endpoint URL must not contain a query or a fragment'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF auth IS NULL OR auth NOT IN ('none', 'basic', 'api_key') THEN
		RAISE EXCEPTION 'unknown authentication method "%"', auth
			USING ERRCODE = 'invalid_parameter_value',
			DETAIL = 'Valid methods are none, basic and api_key.';
	END IF;
	IF auth = 'none' AND (username IS NOT NULL OR secret IS NOT NULL) THEN
		RAISE EXCEPTION 'authentication method "none" takes no username or secret'
			USING ERRCODE = 'invalid_parameter_value';
	ELSIF auth = 'basic' AND (username IS NULL OR secret IS NULL) THEN
		RAISE EXCEPTION 'authentication method "basic" requires a username and a secret'
			USING ERRCODE = 'invalid_parameter_value';
	ELSIF auth = 'api_key' AND (secret IS NULL OR username IS NOT NULL) THEN
		RAISE EXCEPTION 'authentication method "api_key" requires a secret and no username'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF secret ~ '[\r\n]' OR username ~ '[\r\n:]' THEN
		RAISE EXCEPTION 'username and secret must not contain line breaks, nor the username a colon'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF ca_file IS NOT NULL AND left(ca_file, 1) <> '/' THEN
		RAISE EXCEPTION 'ca_file must be an absolute path'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
END
$$;
COMMENT ON FUNCTION _endpoint_check(text, text, text, text, text) IS 'internal: validate an endpoint without ever repeating its URL or secret';

CREATE FUNCTION endpoint_add(name text, url text, auth text DEFAULT 'none',
							 username text DEFAULT NULL, secret text DEFAULT NULL,
							 ca_file text DEFAULT NULL, verify_tls boolean DEFAULT true,
							 secret_file text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF name IS NULL OR name = '' THEN
		RAISE EXCEPTION 'search endpoint name must not be empty'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	secret := reindex._secret_given(secret, secret_file);
	PERFORM reindex._endpoint_check(url, auth, username, secret, ca_file);
	PERFORM reindex._endpoint_host_check(url);
	IF verify_tls IS NULL THEN
		RAISE EXCEPTION 'verify_tls must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF EXISTS (SELECT FROM reindex.endpoint e WHERE e.name = endpoint_add.name) THEN
		RAISE EXCEPTION 'search endpoint "%" already exists', name
			USING ERRCODE = 'duplicate_object',
			HINT = 'Change it with reindex.endpoint_alter().';
	END IF;
	INSERT INTO reindex.endpoint (name, url, auth, username, secret, ca_file, verify_tls)
		VALUES (name, url, auth, username, secret, ca_file, verify_tls);
END
$$;
COMMENT ON FUNCTION endpoint_add(text, text, text, text, text, text, boolean, text) IS 'add a search cluster: URL (no credentials in it, host allowed by reindex.allowed_hosts), auth none|basic|api_key with username and secret (write-only; or secret_file, a server file holding it), CA file, TLS verification';

CREATE FUNCTION endpoint_alter(name text, url text DEFAULT NULL, auth text DEFAULT NULL,
							   username text DEFAULT NULL, secret text DEFAULT NULL,
							   ca_file text DEFAULT NULL, verify_tls boolean DEFAULT NULL,
							   secret_file text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	e reindex.endpoint;
	old reindex.endpoint;
BEGIN
	SELECT * INTO e FROM reindex.endpoint x WHERE x.name = endpoint_alter.name FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'search endpoint "%" does not exist', name
			USING ERRCODE = 'undefined_object';
	END IF;
	old := e;
	secret := reindex._secret_given(secret, secret_file);
	e.url := coalesce(url, e.url);
	IF auth IS NOT NULL AND auth IS DISTINCT FROM e.auth THEN
		-- a new method starts from no credentials
		e.auth := auth;
		e.username := NULL;
		e.secret := NULL;
	END IF;
	e.username := coalesce(username, e.username);
	e.secret := coalesce(secret, e.secret);
	e.ca_file := CASE WHEN ca_file = '' THEN NULL ELSE coalesce(ca_file, e.ca_file) END;
	e.verify_tls := coalesce(verify_tls, e.verify_tls);
	PERFORM reindex._endpoint_check(e.url, e.auth, e.username, e.secret, e.ca_file);
	-- a kept secret goes only where, and as safely as, it went before
	IF secret IS NULL AND e.secret IS NOT NULL
	   AND (reindex._endpoint_origin(e.url) IS DISTINCT FROM reindex._endpoint_origin(old.url)
			OR (old.verify_tls AND NOT e.verify_tls))
	   AND NOT reindex._caller_has_privs_of((SELECT x.extowner FROM pg_catalog.pg_extension x
											  WHERE x.extname = 'reindex')::regrole) THEN
		RAISE EXCEPTION 'changing where search endpoint "%" sends its secret requires the secret', name
			USING ERRCODE = 'insufficient_privilege',
			DETAIL = 'The call changes the scheme, host or port of the URL, or turns TLS verification off, and keeps the stored secret.',
			HINT = 'Pass the secret again in the same call (secret or secret_file); the extension owner may change it without.';
	END IF;
	PERFORM reindex._endpoint_host_check(e.url);
	UPDATE reindex.endpoint x
	   SET url = e.url, auth = e.auth, username = e.username, secret = e.secret,
		   ca_file = e.ca_file, verify_tls = e.verify_tls
	 WHERE x.name = endpoint_alter.name;
END
$$;
COMMENT ON FUNCTION endpoint_alter(text, text, text, text, text, text, boolean, text) IS 'change a search cluster; NULL arguments keep the current value, a new auth method replaces the credentials, ca_file '''' removes the CA file; a new scheme, host or port (or verify_tls off) with a kept secret needs the secret again';

CREATE FUNCTION endpoint_drop(name text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	n_alias bigint;
	n_target bigint;
BEGIN
	PERFORM FROM reindex.endpoint x WHERE x.name = endpoint_drop.name FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'search endpoint "%" does not exist', name
			USING ERRCODE = 'undefined_object';
	END IF;
	SELECT count(*) INTO n_alias FROM reindex.alias a WHERE a.endpoint = endpoint_drop.name;
	SELECT count(*) INTO n_target FROM reindex.target t WHERE t.endpoint = endpoint_drop.name;
	IF n_alias > 0 OR n_target > 0 THEN
		RAISE EXCEPTION 'search endpoint "%" is in use', name
			USING ERRCODE = 'dependent_objects_still_exist',
			DETAIL = format('%s aliases and %s targets refer to it.', n_alias, n_target);
	END IF;
	DELETE FROM reindex.endpoint x WHERE x.name = endpoint_drop.name;
END
$$;
COMMENT ON FUNCTION endpoint_drop(text) IS 'remove a search cluster that no alias or target refers to';

CREATE VIEW endpoints AS
	SELECT name, url, auth, username, secret IS NOT NULL AS has_secret, ca_file, verify_tls, created_at
	  FROM endpoint;
COMMENT ON VIEW endpoints IS 'search clusters, without their secrets';
REVOKE ALL ON endpoints FROM PUBLIC;
