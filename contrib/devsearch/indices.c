/*
 * indices.c — index-level and cluster-level APIs (devsearch).
 *
 * Owns: index create/delete/exists/get, _refresh, _settings, _mapping,
 * _cat/indices, _cluster/health and GET /.  Invariants: settings are stored
 * flat ("index.x.y" -> string) and rendered nested unless flat_settings=true;
 * every response is one of the documented ES shapes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "indices.h"

/* the OpenSearch release the opensearch flavor answers as (the behaviour of
 * the conformance suite's 2.17 line: must_exist, put_alias field checks) */
#define OPENSEARCH_VERSION "2.17.0"
#include "jsonscan.h"
#include "store.h"

int
parse_json_body(Server *srv, const Request *req, Response *resp, json_t **out)
{
	json_error_t jerr;
	JScanError se;

	(void) srv;
	*out = NULL;
	if (req->body == NULL || jscan_skip_ws(req->body, req->body + req->body_len) ==
		req->body + req->body_len)
		return 0;
	if (jscan_validate(req->body, req->body_len, JSCAN_MAX_DEPTH, &se) < 0)
	{
		EsError		e;

		es_error_set(&e, 400, "x_content_parse_exception", "[%d:%d] %s", se.line, se.col, se.msg);
		es_error_respond(resp, &e);
		return -1;
	}
	*out = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (*out == NULL)
	{
		EsError		e;

		es_error_set(&e, 400, "x_content_parse_exception", "[%d:%d] %s",
					 jerr.line, jerr.column, jerr.text);
		es_error_respond(resp, &e);
		return -1;
	}
	if (!json_is_object(*out))
	{
		json_decref(*out);
		*out = NULL;
		es_respond_error(resp, 400, "parse_exception", "request body must be a JSON object");
		return -1;
	}
	return 0;
}

void
indices_root(Server *srv, const Request *req, Response *resp)
{
	JsonBuf    *b = &resp->body;

	resp->head = req->method == HTTP_HEAD;
	jb_reset(b);
	if (srv->cfg.flavor == FLAVOR_ELASTICSEARCH)
		jb_cstr(b, "{\"name\":\"devsearch\",\"cluster_name\":\"devsearch\","
				"\"cluster_uuid\":\"devsearch-cluster-uuid-0001\",\"version\":{"
				"\"number\":\"8.11.0\",\"build_flavor\":\"default\",\"build_type\":\"tar\","
				"\"build_hash\":\"devsearch\",\"build_date\":\"2023-11-04T10:04:57.184859352Z\","
				"\"build_snapshot\":false,\"lucene_version\":\"9.8.0\","
				"\"minimum_wire_compatibility_version\":\"7.17.0\","
				"\"minimum_index_compatibility_version\":\"7.0.0\"},"
				"\"tagline\":\"You Know, for Search\"}");
	else
		jb_cstr(b, "{\"name\":\"devsearch\",\"cluster_name\":\"devsearch\","
				"\"cluster_uuid\":\"devsearch-cluster-uuid-0001\",\"version\":{"
				"\"distribution\":\"opensearch\",\"number\":\"" OPENSEARCH_VERSION "\",\"build_type\":\"tar\","
				"\"build_hash\":\"devsearch\",\"build_date\":\"2024-09-13T00:00:00.000000000Z\","
				"\"build_snapshot\":false,\"lucene_version\":\"9.11.1\","
				"\"minimum_wire_compatibility_version\":\"7.10.0\","
				"\"minimum_index_compatibility_version\":\"7.0.0\"},"
				"\"tagline\":\"The OpenSearch Project: https://opensearch.org/\"}");
	response_json(resp, 200);
}

/* empty field names anywhere under "properties" (and multi-field "fields") */
static const char *
find_empty_field_name(json_t *props, int depth)
{
	const char *k;
	json_t	   *v;

	if (!json_is_object(props) || depth > 64)
		return NULL;
	json_object_foreach(props, k, v)
	{
		const char *p = k;

		while (*p == ' ')
			p++;
		if (*p == '\0')
			return k;
		if (json_is_object(v) &&
			(find_empty_field_name(json_object_get(v, "properties"), depth + 1) ||
			 find_empty_field_name(json_object_get(v, "fields"), depth + 1)))
			return "";
	}
	return NULL;
}

/*
 * Checks of RestCreateIndexAction.prepareMappings and the mapper parser that
 * a strict cluster applies at creation: typed mappings ({"_doc":{...}}) are
 * refused without include_type_name, and empty field names are refused.
 */
static int
validate_mappings(Server *srv, json_t *mappings, Response *resp)
{
	EsError		e;

	(void) srv;
	if (json_object_size(mappings) == 1 && json_object_get(mappings, "_doc"))
	{
		es_respond_error(resp, 400, "illegal_argument_exception",
						 "The mapping definition cannot be nested under a type [_doc] unless include_type_name is set to true.");
		return -1;
	}
	if (find_empty_field_name(json_object_get(mappings, "properties"), 0))
	{
		es_error_set(&e, 400, "mapper_parsing_exception",
					 "Failed to parse mapping [_doc]: field name cannot be an empty string");
		es_error_cause(&e, "illegal_argument_exception", "field name cannot be an empty string");
		es_error_respond(resp, &e);
		return -1;
	}
	return 0;
}

/* Elasticsearch 8 refuses index.soft_deletes.enabled=false (OpenSearch warns) */
static bool
soft_deletes_refused(Server *srv, json_t *settings, Response *resp)
{
	json_t	   *v = json_object_get(settings, "index");
	json_t	   *sd = NULL;

	if (srv->cfg.flavor != FLAVOR_ELASTICSEARCH)
		return false;
	if (json_is_object(v))
		v = json_object_get(v, "soft_deletes");
	else
		v = json_object_get(settings, "soft_deletes");
	if (json_is_object(v))
		sd = json_object_get(v, "enabled");
	if (sd == NULL)
		sd = json_object_get(settings, "index.soft_deletes.enabled");
	if (sd == NULL)
		sd = json_object_get(settings, "soft_deletes.enabled");
	if (json_is_false(sd) || (json_is_string(sd) && strcmp(json_string_value(sd), "false") == 0))
	{
		es_respond_error(resp, 400, "illegal_argument_exception",
						 "Creating indices with soft-deletes disabled is no longer supported. Please do not specify a value for setting [index.soft_deletes.enabled].");
		return true;
	}
	return false;
}

void
indices_create(Server *srv, const Request *req, Response *resp, const char *name)
{
	json_t	   *body;
	json_t	   *settings = NULL,
			   *mappings = NULL,
			   *aliases = NULL;
	EsError		e;
	Index	   *ix;
	const char *k;
	json_t	   *v;

	if (parse_json_body(srv, req, resp, &body) < 0)
		return;
	if (body)
	{
		json_object_foreach(body, k, v)
		{
			if (strcmp(k, "settings") == 0)
				settings = v;
			else if (strcmp(k, "mappings") == 0)
				mappings = v;
			else if (strcmp(k, "aliases") == 0)
				aliases = v;
			else
			{
				es_respond_error(resp, 400, "parse_exception",
								 "unknown key [%s] for create index", k);
				json_decref(body);
				return;
			}
		}
		if ((settings && !json_is_object(settings)) || (mappings && !json_is_object(mappings)) ||
			(aliases && !json_is_object(aliases)))
		{
			es_respond_error(resp, 400, "parse_exception", "Failed to parse content to map");
			json_decref(body);
			return;
		}
	}
	if (mappings && validate_mappings(srv, mappings, resp) < 0)
	{
		json_decref(body);
		return;
	}
	if (settings && soft_deletes_refused(srv, settings, resp))
	{
		json_decref(body);
		return;
	}
	/* alias names must not clash with index names */
	if (aliases)
	{
		json_object_foreach(aliases, k, v)
		{
			if (strcmp(k, name) == 0 || store_find_index(srv->store, k))
			{
				es_respond_error(resp, 400, "invalid_alias_name_exception",
								 "Invalid alias name [%s]: an index or data stream exists with the same name as the alias", k);
				json_decref(body);
				return;
			}
		}
	}
	ix = store_create_index(srv->store, name, settings, mappings, &e);
	if (ix == NULL)
	{
		es_error_respond(resp, &e);
		json_decref(body);
		return;
	}
	if (aliases)
	{
		json_object_foreach(aliases, k, v)
			aliases_add_to_index(ix, k, json_is_object(v) ? v : NULL);
	}
	json_decref(body);
	{
		const char *sd = json_string_value(json_object_get(ix->settings,
														   "index.soft_deletes.enabled"));

		if (sd && strcmp(sd, "false") == 0)
		{
			char		w[400];

			snprintf(w, sizeof(w),
					 "299 OpenSearch-" OPENSEARCH_VERSION "-devsearch \"Creating indices with soft-deletes disabled is deprecated and will be removed in future OpenSearch versions. Please do not specify value for setting [index.soft_deletes.enabled] of index [%s].\"",
					 ix->name);
			response_add_header(resp, "Warning", w);
		}
	}
	jb_reset(&resp->body);
	jb_cstr(&resp->body, "{\"acknowledged\":true,\"shards_acknowledged\":true,\"index\":");
	jb_qcstr(&resp->body, ix->name);
	jb_char(&resp->body, '}');
	response_json(resp, 200);
}

static unsigned
resolve_flags(const Request *req, unsigned dflt)
{
	unsigned	f = dflt;
	const char *v;

	if ((v = req_param(req, "ignore_unavailable")) && (v[0] == '\0' || strcmp(v, "true") == 0))
		f |= RESOLVE_IGNORE_UNAVAILABLE;
	if ((v = req_param(req, "allow_no_indices")))
	{
		if (strcmp(v, "false") == 0)
			f &= ~RESOLVE_ALLOW_NO_INDICES;
		else
			f |= RESOLVE_ALLOW_NO_INDICES;
	}
	return f;
}

void
indices_delete(Server *srv, const Request *req, Response *resp, const char *expr)
{
	IndexList	l = {0};
	EsError		e;
	int			i;
	char	   *copy,
			   *tok,
			   *save = NULL;

	/* deleting through an alias is refused, as in ES */
	copy = strdup(expr);
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		if (!strchr(tok, '*') && !store_find_index(srv->store, tok) &&
			store_alias_exists(srv->store, tok))
		{
			es_respond_error(resp, 400, "illegal_argument_exception",
							 "The provided expression [%s] matches an alias, specify the corresponding concrete indices instead.",
							 tok);
			free(copy);
			return;
		}
	free(copy);
	if (store_resolve(srv->store, expr, resolve_flags(req, RESOLVE_DEFAULT | RESOLVE_NO_ALIASES),
					  &l, &e) < 0)
	{
		es_error_respond(resp, &e);
		return;
	}
	for (i = 0; i < l.n; i++)
		store_delete_index(srv->store, l.v[i]);
	index_list_free(&l);
	jb_reset(&resp->body);
	jb_cstr(&resp->body, "{\"acknowledged\":true}");
	response_json(resp, 200);
}

void
indices_exists(Server *srv, const Request *req, Response *resp, const char *expr)
{
	IndexList	l = {0};
	EsError		e;
	int			r;

	resp->head = true;
	r = store_resolve(srv->store, expr, resolve_flags(req, 0), &l, &e);
	response_json(resp, (r == 0 && l.n > 0) ? 200 : 404);
	index_list_free(&l);
}

/* write settings object {"index":{...}} or flat {"index.x":..} */
static void
write_settings(JsonBuf *jb, json_t *flat, bool flat_form, const char *names)
{
	json_t	   *out = json_object();
	const char *k;
	json_t	   *v;

	json_object_foreach(flat, k, v)
	{
		if (names && strcmp(names, "_all") != 0)
		{
			bool		match = false;
			char	   *list = strdup(names),
					   *tok,
					   *save = NULL;

			for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
			{
				char		full[300];

				snprintf(full, sizeof(full), "index.%s", tok);
				if (glob_match(tok, k) || glob_match(full, k))
					match = true;
			}
			free(list);
			if (!match)
				continue;
		}
		if (flat_form)
			json_object_set(out, k, v);
		else
		{
			/* split on dots into nested objects */
			char	   *path = strdup(k),
					   *p = path,
					   *dot;
			json_t	   *cur = out;

			while ((dot = strchr(p, '.')) != NULL)
			{
				json_t	   *next;

				*dot = '\0';
				next = json_object_get(cur, p);
				if (!json_is_object(next))
				{
					next = json_object();
					json_object_set_new(cur, p, next);
				}
				cur = next;
				p = dot + 1;
			}
			json_object_set(cur, p, v);
			free(path);
		}
	}
	{
		char	   *s = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);

		jb_cstr(jb, s);
		free(s);
	}
	json_decref(out);
}

static bool
want_flat(const Request *req)
{
	const char *v = req_param(req, "flat_settings");

	return v && (v[0] == '\0' || strcmp(v, "true") == 0);
}

void
indices_get(Server *srv, const Request *req, Response *resp, const char *expr)
{
	IndexList	l = {0};
	EsError		e;
	int			i;

	if (store_resolve(srv->store, expr, resolve_flags(req, RESOLVE_DEFAULT), &l, &e) < 0)
	{
		es_error_respond(resp, &e);
		return;
	}
	jb_reset(&resp->body);
	jb_char(&resp->body, '{');
	for (i = 0; i < l.n; i++)
	{
		Index	   *ix = l.v[i];

		if (i)
			jb_char(&resp->body, ',');
		jb_key(&resp->body, ix->name);
		jb_cstr(&resp->body, "{\"aliases\":");
		aliases_write_index(&resp->body, ix, NULL);
		jb_cstr(&resp->body, ",\"mappings\":");
		jb_json(&resp->body, ix->mappings);
		jb_cstr(&resp->body, ",\"settings\":");
		write_settings(&resp->body, ix->settings, want_flat(req), NULL);
		jb_char(&resp->body, '}');
	}
	jb_char(&resp->body, '}');
	index_list_free(&l);
	response_json(resp, 200);
}

static void
write_shards_ok(JsonBuf *b, int total)
{
	jb_cstr(b, "{\"total\":");
	jb_i64(b, total);
	jb_cstr(b, ",\"successful\":");
	jb_i64(b, total > 0 ? (total + 1) / 2 : 0);
	jb_cstr(b, ",\"failed\":0}");
}

void
indices_refresh(Server *srv, const Request *req, Response *resp, const char *expr)
{
	IndexList	l = {0};
	EsError		e;
	int			i,
				total = 0,
				succ = 0;

	if (store_resolve(srv->store, expr, resolve_flags(req, RESOLVE_DEFAULT), &l, &e) < 0)
	{
		es_error_respond(resp, &e);
		return;
	}
	for (i = 0; i < l.n; i++)
	{
		index_refresh(l.v[i]);
		total += l.v[i]->number_of_shards * (1 + l.v[i]->number_of_replicas);
		succ += l.v[i]->number_of_shards;
	}
	jb_reset(&resp->body);
	jb_cstr(&resp->body, "{\"_shards\":{\"total\":");
	jb_i64(&resp->body, total);
	jb_cstr(&resp->body, ",\"successful\":");
	jb_i64(&resp->body, succ);
	jb_cstr(&resp->body, ",\"failed\":0}}");
	index_list_free(&l);
	(void) write_shards_ok;
	response_json(resp, 200);
}

/*
 * GET answers of the form {"<index>":{"<section>":...},...} for every index
 * an expression names; write_section writes one index's section value.
 */
static void
respond_per_index(Server *srv, const Request *req, Response *resp, const char *expr,
				  const char *section,
				  void (*write_section) (JsonBuf *jb, const Request *req, Index *ix, const void *arg),
				  const void *arg)
{
	IndexList	l = {0};
	EsError		e;
	int			i;

	if (store_resolve(srv->store, expr, resolve_flags(req, RESOLVE_DEFAULT), &l, &e) < 0)
	{
		es_error_respond(resp, &e);
		return;
	}
	jb_reset(&resp->body);
	jb_char(&resp->body, '{');
	for (i = 0; i < l.n; i++)
	{
		if (i)
			jb_char(&resp->body, ',');
		jb_key(&resp->body, l.v[i]->name);
		jb_char(&resp->body, '{');
		jb_key(&resp->body, section);
		write_section(&resp->body, req, l.v[i], arg);
		jb_char(&resp->body, '}');
	}
	jb_char(&resp->body, '}');
	index_list_free(&l);
	response_json(resp, 200);
}

static void
write_settings_section(JsonBuf *jb, const Request *req, Index *ix, const void *names)
{
	write_settings(jb, ix->settings, want_flat(req), (const char *) names);
}

void
indices_get_settings(Server *srv, const Request *req, Response *resp,
					 const char *expr, const char *names)
{
	respond_per_index(srv, req, resp, expr, "settings", write_settings_section, names);
}

void
indices_put_settings(Server *srv, const Request *req, Response *resp, const char *expr)
{
	IndexList	l = {0};
	EsError		e;
	json_t	   *body,
			   *settings;
	int			i;

	if (parse_json_body(srv, req, resp, &body) < 0)
		return;
	if (body == NULL)
	{
		es_respond_error(resp, 400, "action_request_validation_exception",
						 "Validation Failed: 1: no settings to update;");
		return;
	}
	settings = json_object_get(body, "settings");
	if (settings == NULL)
		settings = body;
	if (store_resolve(srv->store, expr, resolve_flags(req, RESOLVE_DEFAULT), &l, &e) < 0)
	{
		es_error_respond(resp, &e);
		json_decref(body);
		return;
	}
	/* validate on a scratch copy of each index first: all or nothing */
	for (i = 0; i < l.n; i++)
	{
		Index		tmp = *l.v[i];

		tmp.settings = json_deep_copy(l.v[i]->settings);
		if (index_apply_settings(&tmp, settings, false, &e) < 0)
		{
			json_decref(tmp.settings);
			es_error_respond(resp, &e);
			index_list_free(&l);
			json_decref(body);
			return;
		}
		json_decref(tmp.settings);
	}
	for (i = 0; i < l.n; i++)
		index_apply_settings(l.v[i], settings, false, &e);
	index_list_free(&l);
	json_decref(body);
	jb_reset(&resp->body);
	jb_cstr(&resp->body, "{\"acknowledged\":true}");
	response_json(resp, 200);
}

static void
write_mapping_section(JsonBuf *jb, const Request *req, Index *ix, const void *arg)
{
	(void) req;
	(void) arg;
	jb_json(jb, ix->mappings);
}

void
indices_get_mapping(Server *srv, const Request *req, Response *resp, const char *expr)
{
	respond_per_index(srv, req, resp, expr, "mappings", write_mapping_section, NULL);
}

void
indices_cat(Server *srv, const Request *req, Response *resp, const char *expr)
{
	IndexList	l = {0};
	EsError		e;
	int			i;
	const char *fmt = req_param(req, "format");
	bool		json = fmt && strcmp(fmt, "json") == 0;
	int64_t		now = now_mono_ms();

	if (store_resolve(srv->store, expr, resolve_flags(req, RESOLVE_DEFAULT), &l, &e) < 0)
	{
		es_error_respond(resp, &e);
		return;
	}
	jb_reset(&resp->body);
	if (json)
		jb_char(&resp->body, '[');
	for (i = 0; i < l.n; i++)
	{
		Index	   *ix = l.v[i];
		const char *health = ix->number_of_replicas > 0 ? "yellow" : "green";
		char		cnt[32],
					del[32],
					pri[16],
					rep[16],
					size[32];

		index_maybe_refresh(ix, now);
		snprintf(cnt, sizeof(cnt), "%llu", (unsigned long long) ix->vis_count);
		snprintf(del, sizeof(del), "%d", 0);
		snprintf(pri, sizeof(pri), "%d", ix->number_of_shards);
		snprintf(rep, sizeof(rep), "%d", ix->number_of_replicas);
		snprintf(size, sizeof(size), "%llub", (unsigned long long) (ix->vis_count * 100 + 225));
		if (json)
		{
			if (i)
				jb_char(&resp->body, ',');
			jb_cstr(&resp->body, "{\"health\":");
			jb_qcstr(&resp->body, health);
			jb_cstr(&resp->body, ",\"status\":\"open\",\"index\":");
			jb_qcstr(&resp->body, ix->name);
			jb_cstr(&resp->body, ",\"uuid\":");
			jb_qcstr(&resp->body, ix->uuid);
			jb_cstr(&resp->body, ",\"pri\":");
			jb_qcstr(&resp->body, pri);
			jb_cstr(&resp->body, ",\"rep\":");
			jb_qcstr(&resp->body, rep);
			jb_cstr(&resp->body, ",\"docs.count\":");
			jb_qcstr(&resp->body, cnt);
			jb_cstr(&resp->body, ",\"docs.deleted\":");
			jb_qcstr(&resp->body, del);
			jb_cstr(&resp->body, ",\"store.size\":");
			jb_qcstr(&resp->body, size);
			jb_cstr(&resp->body, ",\"pri.store.size\":");
			jb_qcstr(&resp->body, size);
			jb_char(&resp->body, '}');
		}
		else
			jb_printf(&resp->body, "%s open %s %s %s %s %s %s %s %s\n", health, ix->name,
					  ix->uuid, pri, rep, cnt, del, size, size);
	}
	if (json)
		jb_char(&resp->body, ']');
	else
		snprintf(resp->content_type, sizeof(resp->content_type), "text/plain; charset=UTF-8");
	index_list_free(&l);
	response_json(resp, 200);
}

void
cluster_health(Server *srv, const Request *req, Response *resp)
{
	int			shards = 0,
				i;

	(void) req;
	for (i = 0; i < srv->store->nindexes; i++)
		shards += srv->store->indexes[i]->number_of_shards;
	jb_reset(&resp->body);
	jb_printf(&resp->body,
			  "{\"cluster_name\":\"devsearch\",\"status\":\"green\",\"timed_out\":false,"
			  "\"number_of_nodes\":1,\"number_of_data_nodes\":1,%s\"active_primary_shards\":%d,"
			  "\"active_shards\":%d,\"relocating_shards\":0,\"initializing_shards\":0,"
			  "\"unassigned_shards\":0,\"delayed_unassigned_shards\":0,"
			  "\"number_of_pending_tasks\":0,\"number_of_in_flight_fetch\":0,"
			  "\"task_max_waiting_in_queue_millis\":0,\"active_shards_percent_as_number\":100.0}",
			  srv->cfg.flavor == FLAVOR_OPENSEARCH ?
			  "\"discovered_master\":true,\"discovered_cluster_manager\":true," : "",
			  shards, shards);
	response_json(resp, 200);
}
