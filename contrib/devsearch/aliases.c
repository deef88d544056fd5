/*
 * aliases.c — alias APIs (devsearch): POST /_aliases, PUT/DELETE
 * /{index}/_alias/{name}, GET/HEAD [/{index}]/_alias[/{name}].
 *
 * Invariants: POST /_aliases is all or nothing: every index's alias array is
 * snapshotted, actions are applied, and any error restores the snapshot
 * before answering; remove_index deletions happen only after the alias part
 * succeeded.  An alias never has the name of an index, and at most one index
 * of an alias has is_write_index=true.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "indices.h"
#include "store.h"

/* ---- helpers ---- */

static void
alias_free_fields(Alias *a)
{
	free(a->name);
	json_decref(a->props);
}

static void
alias_remove_at(Index *ix, int i)
{
	alias_free_fields(&ix->aliases[i]);
	memmove(&ix->aliases[i], &ix->aliases[i + 1], sizeof(Alias) * (size_t) (ix->naliases - i - 1));
	ix->naliases--;
}

static int
validate_alias_name(Server *srv, const char *name, EsError *e)
{
	Index	   *ix;

	if (index_name_validate(name, e) < 0)
	{
		char		reason[sizeof(e->reason)];

		/* same rules as index names, reported as an alias error */
		snprintf(reason, sizeof(reason), "%s", e->reason);
		es_error_set(e, 400, "invalid_alias_name_exception", "%s", reason);
		if (strncmp(e->reason, "Invalid index name", 18) == 0)
		{
			const char *tail = strstr(e->reason, "], ");

			/* InvalidAliasNameException(name, desc): "Invalid alias name [N]: desc" */
			if (tail)
				snprintf(reason, sizeof(reason), "Invalid alias name%.*s]: %s",
						 (int) (tail - (e->reason + 18)), e->reason + 18, tail + 3);
			else
				snprintf(reason, sizeof(reason), "Invalid alias name%s", e->reason + 18);
			snprintf(e->reason, sizeof(e->reason), "%s", reason);
		}
		return -1;
	}
	if ((ix = store_find_index(srv->store, name)) != NULL)
	{
		if (srv->cfg.flavor == FLAVOR_OPENSEARCH)
		{
			/* OpenSearch: InvalidAliasNameException(Index, name, desc) */
			es_error_set(e, 400, "invalid_alias_name_exception",
						 "Invalid alias name [%s], an index exists with the same name as the alias",
						 name);
			es_error_meta(e, "index_uuid", ix->uuid);
			es_error_meta(e, "index", ix->name);
		}
		else
			es_error_set(e, 400, "invalid_alias_name_exception",
						 "Invalid alias name [%s]: an index or data stream exists with the same name as the alias",
						 name);
		return -1;
	}
	return 0;
}

static json_t *
routing_string(json_t *v)
{
	char		buf[64];

	if (json_is_string(v))
		return json_incref(v);
	if (json_is_integer(v))
	{
		snprintf(buf, sizeof(buf), "%lld", (long long) json_integer_value(v));
		return json_string(buf);
	}
	return NULL;
}

/* add or replace alias on ix from attributes object attrs (may be NULL) */
static void
alias_add(Index *ix, const char *name, json_t *attrs)
{
	Alias	   *a = index_find_alias(ix, name);
	json_t	   *props = json_object();
	json_t	   *v;
	int			w = -1;

	if (attrs)
	{
		if ((v = json_object_get(attrs, "filter")) && !json_is_null(v))
			json_object_set(props, "filter", v);
		if ((v = json_object_get(attrs, "routing")) && !json_is_null(v))
		{
			json_object_set_new(props, "index_routing", routing_string(v));
			json_object_set_new(props, "search_routing", routing_string(v));
		}
		if ((v = json_object_get(attrs, "index_routing")) && !json_is_null(v))
			json_object_set_new(props, "index_routing", routing_string(v));
		if ((v = json_object_get(attrs, "search_routing")) && !json_is_null(v))
			json_object_set_new(props, "search_routing", routing_string(v));
		if ((v = json_object_get(attrs, "is_write_index")) && !json_is_null(v))
			w = json_is_true(v) || (json_is_string(v) && strcmp(json_string_value(v), "true") == 0);
		if ((v = json_object_get(attrs, "is_hidden")) && !json_is_null(v))
			json_object_set(props, "is_hidden", v);
	}
	if (a == NULL)
	{
		ix->aliases = realloc(ix->aliases, sizeof(Alias) * (size_t) (ix->naliases + 1));
		if (ix->aliases == NULL)
			abort();
		a = &ix->aliases[ix->naliases++];
		a->name = strdup(name);
	}
	else
		json_decref(a->props);
	a->props = props;
	a->is_write_index = w;
}

void
aliases_add_to_index(Index *ix, const char *name, json_t *attrs)
{
	alias_add(ix, name, attrs);
}

typedef struct Snapshot
{
	int			n;
	Index	  **ix;
	Alias	  **aliases;
	int		   *naliases;
} Snapshot;

static void
snapshot_take(Store *st, Snapshot *s)
{
	int			i,
				j;

	s->n = st->nindexes;
	s->ix = malloc(sizeof(Index *) * (size_t) (s->n + 1));
	s->aliases = malloc(sizeof(Alias *) * (size_t) (s->n + 1));
	s->naliases = malloc(sizeof(int) * (size_t) (s->n + 1));
	for (i = 0; i < s->n; i++)
	{
		Index	   *ix = st->indexes[i];

		s->ix[i] = ix;
		s->naliases[i] = ix->naliases;
		s->aliases[i] = malloc(sizeof(Alias) * (size_t) (ix->naliases + 1));
		for (j = 0; j < ix->naliases; j++)
		{
			s->aliases[i][j].name = strdup(ix->aliases[j].name);
			s->aliases[i][j].props = json_deep_copy(ix->aliases[j].props);
			s->aliases[i][j].is_write_index = ix->aliases[j].is_write_index;
		}
	}
}

/* restore = true: put the copies back; false: drop the copies */
static void
snapshot_end(Snapshot *s, bool restore)
{
	int			i,
				j;

	for (i = 0; i < s->n; i++)
	{
		Index	   *ix = s->ix[i];

		if (restore)
		{
			for (j = 0; j < ix->naliases; j++)
				alias_free_fields(&ix->aliases[j]);
			free(ix->aliases);
			ix->aliases = s->aliases[i];
			ix->naliases = s->naliases[i];
		}
		else
		{
			for (j = 0; j < s->naliases[i]; j++)
				alias_free_fields(&s->aliases[i][j]);
			free(s->aliases[i]);
		}
	}
	free(s->ix);
	free(s->aliases);
	free(s->naliases);
}

/* check "at most one write index" for every alias */
static int
check_write_indexes(Store *st, EsError *e)
{
	int			i,
				j,
				k;

	for (i = 0; i < st->nindexes; i++)
		for (j = 0; j < st->indexes[i]->naliases; j++)
		{
			Alias	   *a = &st->indexes[i]->aliases[j];
			JsonBuf		names;
			int			n = 0;

			if (a->is_write_index != 1)
				continue;
			jb_init(&names);
			for (k = 0; k < st->nindexes; k++)
			{
				Alias	   *b = index_find_alias(st->indexes[k], a->name);

				if (b && b->is_write_index == 1)
				{
					if (n++)
						jb_char(&names, ',');
					jb_cstr(&names, st->indexes[k]->name);
				}
			}
			if (n > 1)
			{
				es_error_set(e, 500, "illegal_state_exception",
							 "alias [%s] has more than one write index [%s]", a->name, names.data);
				jb_free(&names);
				return -1;
			}
			jb_free(&names);
		}
	return 0;
}

/* collect strings from "index"/"indices" (or alias/aliases) */
static int
collect_names(json_t *obj, const char *one, const char *many, json_t *out)
{
	json_t	   *v = json_object_get(obj, one);
	size_t		i;
	json_t	   *e;

	if (v)
	{
		if (!json_is_string(v))
			return -1;
		json_array_append(out, v);
	}
	v = json_object_get(obj, many);
	if (v)
	{
		if (json_is_string(v))
			json_array_append(out, v);
		else if (json_is_array(v))
			json_array_foreach(v, i, e)
			{
				if (!json_is_string(e))
					return -1;
				json_array_append(out, e);
			}
		else
			return -1;
	}
	return 0;
}

static void
respond_ack(Response *resp)
{
	jb_reset(&resp->body);
	jb_cstr(&resp->body, "{\"acknowledged\":true}");
	response_json(resp, 200);
}

/* resolve index names (wildcards allowed) for alias actions */
static int
resolve_targets(Server *srv, json_t *names, IndexList *out, EsError *e)
{
	size_t		i;
	json_t	   *n;
	IndexList	one = {0};

	json_array_foreach(names, i, n)
	{
		int			k;

		if (store_resolve(srv->store, json_string_value(n), RESOLVE_NO_ALIASES, &one, e) < 0)
		{
			index_list_free(&one);
			return -1;
		}
		for (k = 0; k < one.n; k++)
		{
			int			m;

			for (m = 0; m < out->n; m++)
				if (out->v[m] == one.v[k])
					break;
			if (m == out->n)
			{
				out->v = realloc(out->v, sizeof(Index *) * (size_t) (out->n + 1));
				out->v[out->n++] = one.v[k];
			}
		}
	}
	index_list_free(&one);
	return 0;
}

void
aliases_update(Server *srv, const Request *req, Response *resp)
{
	json_t	   *body,
			   *actions;
	EsError		e;
	Snapshot	snap;
	size_t		i;
	json_t	   *act;
	IndexList	to_delete = {0};
	int			nremoves = 0,
				nremoves_matched = 0,
				nother = 0;
	JsonBuf		missing;
	bool		is_es = srv->cfg.flavor == FLAVOR_ELASTICSEARCH;

	if (parse_json_body(srv, req, resp, &body) < 0)
		return;
	actions = body ? json_object_get(body, "actions") : NULL;
	if (!json_is_array(actions) || json_array_size(actions) == 0)
	{
		es_respond_error(resp, 400, "action_request_validation_exception",
						 "Validation Failed: 1: no actions specified;");
		json_decref(body);
		return;
	}
	jb_init(&missing);
	es_error_clear(&e);
	snapshot_take(srv->store, &snap);
	json_array_foreach(actions, i, act)
	{
		const char *type;
		json_t	   *spec;
		json_t	   *inames = json_array(),
				   *anames = json_array();
		IndexList	targets = {0};
		size_t		k;
		int			t;

		if (!json_is_object(act) || json_object_size(act) != 1)
		{
			es_error_set(&e, 400, "parse_exception", "Expected one action per object");
			goto action_fail;
		}
		type = json_object_iter_key(json_object_iter(act));
		spec = json_object_iter_value(json_object_iter(act));
		if (!json_is_object(spec) ||
			collect_names(spec, "index", "indices", inames) < 0 ||
			collect_names(spec, "alias", "aliases", anames) < 0)
		{
			es_error_set(&e, 400, "x_content_parse_exception", "[1:1] [%s] failed to parse field", type);
			goto action_fail;
		}
		if ((json_is_array(json_object_get(spec, "aliases")) &&
			 json_array_size(json_object_get(spec, "aliases")) == 0) ||
			(json_is_array(json_object_get(spec, "indices")) &&
			 json_array_size(json_object_get(spec, "indices")) == 0))
		{
			const char *f = json_is_array(json_object_get(spec, "indices")) &&
				json_array_size(json_object_get(spec, "indices")) == 0 ? "indices" : "aliases";

			es_error_set(&e, 400, "x_content_parse_exception", "[1:1] [%s] failed to parse field [%s]",
						 type, f);
			es_error_cause(&e, "illegal_argument_exception", "[%s] can't be empty", f);
			goto action_fail;
		}
		if (json_array_size(inames) == 0)
		{
			es_error_set(&e, 400, "action_request_validation_exception",
						 "Validation Failed: 1: One of [index] or [indices] is required;");
			goto action_fail;
		}
		if (strcmp(type, "remove_index") == 0)
		{
			if (resolve_targets(srv, inames, &targets, &e) < 0)
				goto action_fail;
			for (t = 0; t < targets.n; t++)
			{
				to_delete.v = realloc(to_delete.v, sizeof(Index *) * (size_t) (to_delete.n + 1));
				to_delete.v[to_delete.n++] = targets.v[t];
			}
			nother++;
		}
		else if (strcmp(type, "add") == 0)
		{
			if (json_array_size(anames) == 0)
			{
				es_error_set(&e, 400, "action_request_validation_exception",
							 "Validation Failed: 1: One of [alias] or [aliases] is required;");
				goto action_fail;
			}
			if (resolve_targets(srv, inames, &targets, &e) < 0)
				goto action_fail;
			for (k = 0; k < json_array_size(anames); k++)
			{
				const char *an = json_string_value(json_array_get(anames, k));

				if (validate_alias_name(srv, an, &e) < 0)
					goto action_fail;
				for (t = 0; t < targets.n; t++)
					alias_add(targets.v[t], an, spec);
			}
			nother++;
		}
		else if (strcmp(type, "remove") == 0)
		{
			bool		must_exist = json_is_true(json_object_get(spec, "must_exist"));

			if (json_array_size(anames) == 0)
			{
				es_error_set(&e, 400, "action_request_validation_exception",
							 "Validation Failed: 1: One of [alias] or [aliases] is required;");
				goto action_fail;
			}
			if (resolve_targets(srv, inames, &targets, &e) < 0)
				goto action_fail;
			nremoves++;
			for (k = 0; k < json_array_size(anames); k++)
			{
				const char *an = json_string_value(json_array_get(anames, k));
				bool		any = false;

				for (t = 0; t < targets.n; t++)
				{
					int			a;

					for (a = targets.v[t]->naliases - 1; a >= 0; a--)
						if (glob_match(an, targets.v[t]->aliases[a].name) ||
							strcmp(an, "_all") == 0)
						{
							alias_remove_at(targets.v[t], a);
							any = true;
						}
				}
				if (any)
					nremoves_matched++;
				else
				{
					if (must_exist && is_es)
					{
						es_error_set(&e, 404, "resource_not_found_exception",
									 "required alias [%s] does not exist", an);
						goto action_fail;
					}
					if (must_exist)
					{
						/* OpenSearch 2.12+: AliasesNotFoundException */
						es_error_set(&e, 404, "aliases_not_found_exception",
									 "aliases [%s] missing", an);
						es_error_meta(&e, "resource.type", "aliases");
						es_error_meta(&e, "resource.id", an);
						goto action_fail;
					}
					if (missing.len)
						jb_char(&missing, ',');
					jb_cstr(&missing, an);
				}
			}
		}
		else
		{
			es_error_set(&e, 400, "parse_exception",
						 "Unknown alias action [%s], expected one of [add, remove, remove_index]", type);
			goto action_fail;
		}
		index_list_free(&targets);
		json_decref(inames);
		json_decref(anames);
		continue;
action_fail:
		index_list_free(&targets);
		json_decref(inames);
		json_decref(anames);
		break;
	}
	if (e.status == 0 && nother == 0 && nremoves > 0 && nremoves_matched == 0)
	{
		es_error_set(&e, 404, "aliases_not_found_exception", "aliases [%s] missing",
					 missing.data ? missing.data : "");
		es_error_meta(&e, "resource.type", "aliases");
		es_error_meta(&e, "resource.id", missing.data ? missing.data : "");
	}
	if (e.status == 0)
		check_write_indexes(srv->store, &e);
	if (e.status)
	{
		snapshot_end(&snap, true);
		es_error_respond(resp, &e);
	}
	else
	{
		int			t;

		snapshot_end(&snap, false);
		for (t = 0; t < to_delete.n; t++)
			store_delete_index(srv->store, to_delete.v[t]);
		respond_ack(resp);
	}
	index_list_free(&to_delete);
	jb_free(&missing);
	json_decref(body);
}

/*
 * PUT|POST [/{index}]/_alias[/{name}] (RestIndexPutAliasAction): "index" and
 * "alias" in the body override the path; the other body fields are the alias
 * attributes; an unknown field is refused.
 */
void
aliases_put(Server *srv, const Request *req, Response *resp,
			const char *index_expr, const char *name)
{
	static const char *const known[] = {
		"index", "alias", "routing", "index_routing", "indexRouting", "index-routing",
		"search_routing", "searchRouting", "search-routing", "filter",
		"is_write_index", "is_hidden", NULL
	};
	json_t	   *body;
	json_t	   *attrs = NULL;
	EsError		e;
	IndexList	l = {0};
	Snapshot	snap;
	int			i;
	char	   *names,
			   *tok,
			   *save = NULL;
	const char *k;
	json_t	   *v;

	if (parse_json_body(srv, req, resp, &body) < 0)
		return;
	if (body && !json_is_object(body))
	{
		es_respond_error(resp, 400, "parse_exception", "Failed to parse alias body: not an object");
		json_decref(body);
		return;
	}
	if (body)
	{
		attrs = json_object();
		json_object_foreach(body, k, v)
		{
			for (i = 0; known[i]; i++)
				if (strcmp(k, known[i]) == 0)
					break;
			if (known[i] == NULL || (strcmp(k, "filter") == 0) != (json_is_object(v) || json_is_null(v)) ||
				((strcmp(k, "index") == 0 || strcmp(k, "alias") == 0) && !json_is_string(v)))
			{
				es_respond_error(resp, 400, "illegal_argument_exception", "unknown field [%s]", k);
				json_decref(attrs);
				json_decref(body);
				return;
			}
			if (strcmp(k, "index") == 0)
				index_expr = json_string_value(v);
			else if (strcmp(k, "alias") == 0)
				name = json_string_value(v);
			else if (strcmp(k, "indexRouting") == 0 || strcmp(k, "index-routing") == 0)
				json_object_set(attrs, "index_routing", v);
			else if (strcmp(k, "searchRouting") == 0 || strcmp(k, "search-routing") == 0)
				json_object_set(attrs, "search_routing", v);
			else
				json_object_set(attrs, k, v);
		}
	}
	if ((index_expr == NULL || index_expr[0] == '\0' || name == NULL || name[0] == '\0') &&
		srv->cfg.flavor == FLAVOR_OPENSEARCH)
	{
		/* OpenSearch's AliasActions setters refuse an empty value at once */
		es_respond_error(resp, 400, "illegal_argument_exception", "[%s] can't be empty%s",
						 index_expr == NULL || index_expr[0] == '\0' ? "indices" : "alias",
						 index_expr == NULL || index_expr[0] == '\0' ? "" : " string");
		json_decref(attrs);
		json_decref(body);
		return;
	}
	if (index_expr == NULL || index_expr[0] == '\0' || name == NULL || name[0] == '\0')
	{
		es_respond_error(resp, 400, "action_request_validation_exception",
						 "Validation Failed: 1: %s;",
						 index_expr == NULL || index_expr[0] == '\0' ?
						 "One of [index] or [indices] is required" :
						 "One of [alias] or [aliases] is required");
		json_decref(attrs);
		json_decref(body);
		return;
	}
	if (store_resolve(srv->store, index_expr, RESOLVE_NO_ALIASES, &l, &e) < 0)
	{
		es_error_respond(resp, &e);
		json_decref(attrs);
		json_decref(body);
		return;
	}
	es_error_clear(&e);
	snapshot_take(srv->store, &snap);
	names = strdup(name);
	for (tok = strtok_r(names, ",", &save); tok && !e.status; tok = strtok_r(NULL, ",", &save))
	{
		if (validate_alias_name(srv, tok, &e) < 0)
			break;
		for (i = 0; i < l.n; i++)
			alias_add(l.v[i], tok, attrs);
	}
	free(names);
	if (e.status == 0)
		check_write_indexes(srv->store, &e);
	snapshot_end(&snap, e.status != 0);
	if (e.status)
		es_error_respond(resp, &e);
	else
		respond_ack(resp);
	index_list_free(&l);
	json_decref(attrs);
	json_decref(body);
}

void
aliases_delete(Server *srv, const Request *req, Response *resp,
			   const char *index_expr, const char *names)
{
	EsError		e;
	IndexList	l = {0};
	char	   *copy,
			   *tok,
			   *save = NULL;
	JsonBuf		missing;
	int			i;

	(void) req;
	if (store_resolve(srv->store, index_expr, RESOLVE_NO_ALIASES, &l, &e) < 0)
	{
		es_error_respond(resp, &e);
		return;
	}
	/* all or nothing: check first */
	jb_init(&missing);
	copy = strdup(names);
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
	{
		bool		any = false;

		for (i = 0; i < l.n && !any; i++)
		{
			int			a;

			for (a = 0; a < l.v[i]->naliases; a++)
				if (strcmp(tok, "_all") == 0 || glob_match(tok, l.v[i]->aliases[a].name))
					any = true;
		}
		if (!any)
		{
			if (missing.len)
				jb_char(&missing, ',');
			jb_cstr(&missing, tok);
		}
	}
	free(copy);
	if (missing.len)
	{
		es_error_set(&e, 404, "aliases_not_found_exception", "aliases [%s] missing", missing.data);
		es_error_meta(&e, "resource.type", "aliases");
		es_error_meta(&e, "resource.id", missing.data);
		es_error_respond(resp, &e);
		jb_free(&missing);
		index_list_free(&l);
		return;
	}
	jb_free(&missing);
	copy = strdup(names);
	save = NULL;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		for (i = 0; i < l.n; i++)
		{
			int			a;

			for (a = l.v[i]->naliases - 1; a >= 0; a--)
				if (strcmp(tok, "_all") == 0 || glob_match(tok, l.v[i]->aliases[a].name))
					alias_remove_at(l.v[i], a);
		}
	free(copy);
	index_list_free(&l);
	respond_ack(resp);
}

static bool
name_matches(const char *names, const char *alias)
{
	char	   *copy,
			   *tok,
			   *save = NULL;
	bool		m = false;

	if (names == NULL || strcmp(names, "_all") == 0 || strcmp(names, "*") == 0)
		return true;
	copy = strdup(names);
	for (tok = strtok_r(copy, ",", &save); tok && !m; tok = strtok_r(NULL, ",", &save))
		m = glob_match(tok, alias);
	free(copy);
	return m;
}

void
aliases_write_index(JsonBuf *jb, const Index *ix, const char *names)
{
	int			a;
	bool		first = true;

	jb_char(jb, '{');
	for (a = 0; a < ix->naliases; a++)
	{
		const Alias *al = &ix->aliases[a];
		const char *k;
		json_t	   *v;
		bool		f2 = true;

		if (!name_matches(names, al->name))
			continue;
		if (!first)
			jb_char(jb, ',');
		first = false;
		jb_key(jb, al->name);
		jb_char(jb, '{');
		json_object_foreach(al->props, k, v)
		{
			if (strcmp(k, "is_hidden") == 0)
				continue;
			if (!f2)
				jb_char(jb, ',');
			f2 = false;
			jb_key(jb, k);
			jb_json(jb, v);
		}
		if (al->is_write_index >= 0)
		{
			if (!f2)
				jb_char(jb, ',');
			f2 = false;
			jb_cstr(jb, "\"is_write_index\":");
			jb_bool(jb, al->is_write_index == 1);
		}
		if ((v = json_object_get(al->props, "is_hidden")))
		{
			if (!f2)
				jb_char(jb, ',');
			jb_cstr(jb, "\"is_hidden\":");
			jb_json(jb, v);
		}
		jb_char(jb, '}');
	}
	jb_char(jb, '}');
}

void
aliases_get(Server *srv, const Request *req, Response *resp,
			const char *index_expr, const char *names)
{
	EsError		e;
	IndexList	l = {0};
	int			i;
	JsonBuf		missing;
	JsonBuf		out;
	bool		first = true;

	resp->head = req->method == HTTP_HEAD;
	if (store_resolve(srv->store, index_expr, RESOLVE_ALLOW_NO_INDICES, &l, &e) < 0)
	{
		es_error_respond(resp, &e);
		return;
	}
	jb_init(&missing);
	jb_init(&out);
	/* explicit (non-wildcard) names that match nothing */
	if (names && strcmp(names, "_all") != 0)
	{
		char	   *copy = strdup(names),
				   *tok,
				   *save = NULL;

		for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		{
			bool		any = false;

			if (strchr(tok, '*'))
				continue;
			for (i = 0; i < l.n && !any; i++)
				any = index_find_alias(l.v[i], tok) != NULL;
			if (!any)
			{
				if (missing.len)
					jb_char(&missing, ',');
				jb_cstr(&missing, tok);
			}
		}
		free(copy);
	}
	for (i = 0; i < l.n; i++)
	{
		int			a;
		bool		has = false;

		for (a = 0; a < l.v[i]->naliases && !has; a++)
			has = name_matches(names, l.v[i]->aliases[a].name);
		/* with alias names given, only indexes that have one are listed */
		if (names && !has)
			continue;
		if (!first)
			jb_char(&out, ',');
		first = false;
		jb_key(&out, l.v[i]->name);
		jb_cstr(&out, "{\"aliases\":");
		aliases_write_index(&out, l.v[i], names);
		jb_char(&out, '}');
	}
	jb_reset(&resp->body);
	if (missing.len)
	{
		jb_cstr(&resp->body, "{\"error\":");
		if (strchr(missing.data, ','))
		{
			char		msg[1100];

			snprintf(msg, sizeof(msg), "aliases [%s] missing", missing.data);
			jb_qcstr(&resp->body, msg);
		}
		else
		{
			char		msg[1100];

			snprintf(msg, sizeof(msg), "alias [%s] missing", missing.data);
			jb_qcstr(&resp->body, msg);
		}
		jb_cstr(&resp->body, ",\"status\":404");
		if (out.len)
		{
			jb_char(&resp->body, ',');
			jb_raw(&resp->body, out.data, out.len);
		}
		jb_char(&resp->body, '}');
		response_json(resp, 404);
	}
	else
	{
		jb_char(&resp->body, '{');
		if (out.len)
			jb_raw(&resp->body, out.data, out.len);
		jb_char(&resp->body, '}');
		response_json(resp, 200);
	}
	jb_free(&missing);
	jb_free(&out);
	index_list_free(&l);
}
