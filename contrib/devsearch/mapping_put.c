/*
 * mapping_put.c — PUT /<index>/_mapping (devsearch).
 *
 * Owns: merging a mapping update into an index's "mappings", as the
 * cluster's MapperService.merge does for the cases a reindex meets: new
 * fields (at any depth) are added; an existing field keeps its type (a
 * different one is refused: "mapper [f] cannot be changed from type [long]
 * to [text]", illegal_argument_exception) and takes the new values of the
 * parameters that can be updated in place (ignore_malformed, ignore_above,
 * meta, fields, search_analyzer, search_quote_analyzer); any other parameter
 * that differs is refused ("Mapper for [f] conflicts with existing mapper:
 * Cannot update parameter [p] from [a] to [b]"); "dynamic" can change.
 *
 * Invariants: every index named is checked on a copy before any is changed
 * (all or nothing); an index's mappings object is replaced, never edited in
 * place, so the compiled-mapping cache (keyed by the object) sees a new one;
 * callers hold Server.lock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "indices.h"
#include "store.h"

static const char *const updatable[] = {
	"ignore_malformed", "ignore_above", "meta", "fields", "search_analyzer",
	"search_quote_analyzer", NULL
};

static bool
is_updatable(const char *param)
{
	for (int i = 0; updatable[i]; i++)
		if (strcmp(updatable[i], param) == 0)
			return true;
	return false;
}

/* the field's type as the cluster names it: "object" for a bare object */
static const char *
type_of(json_t *field)
{
	json_t	   *t = json_object_get(field, "type");

	if (json_is_string(t))
		return json_string_value(t);
	return "object";
}

static int	merge_properties(json_t *dst, json_t *src, const char *prefix, EsError *err);

/* Merge one field definition src into dst (both objects), path for messages. */
static int
merge_field(json_t *dst, json_t *src, const char *path, EsError *err)
{
	const char *k;
	json_t	   *v;

	if (strcmp(type_of(dst), type_of(src)) != 0)
	{
		es_error_set(err, 400, "illegal_argument_exception",
					 "mapper [%s] cannot be changed from type [%s] to [%s]",
					 path, type_of(dst), type_of(src));
		return -1;
	}
	json_object_foreach(src, k, v)
	{
		json_t	   *old = json_object_get(dst, k);

		if (strcmp(k, "type") == 0)
			continue;
		if (strcmp(k, "properties") == 0)
		{
			if (!json_is_object(v))
			{
				es_error_set(err, 400, "mapper_parsing_exception",
							 "Expected map for property [properties] on field [%s] but got a class java.lang.String",
							 path);
				return -1;
			}
			if (!json_is_object(old))
			{
				old = json_object();
				json_object_set_new(dst, "properties", old);
			}
			if (merge_properties(old, v, path, err) < 0)
				return -1;
			continue;
		}
		if (old && !json_equal(old, v) && !is_updatable(k) && strcmp(k, "dynamic") != 0)
		{
			char	   *a = json_dumps(old, JSON_ENCODE_ANY | JSON_COMPACT);
			char	   *b = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

			es_error_set(err, 400, "illegal_argument_exception",
						 "Mapper for [%s] conflicts with existing mapper:\n\tCannot update parameter [%s] from [%s] to [%s]",
						 path, k, a ? a : "?", b ? b : "?");
			free(a);
			free(b);
			return -1;
		}
		if (!old && !is_updatable(k) && strcmp(k, "dynamic") != 0 && strcmp(type_of(dst), "object") != 0)
		{
			es_error_set(err, 400, "illegal_argument_exception",
						 "Mapper for [%s] conflicts with existing mapper:\n\tCannot update parameter [%s] from [default] to [%s]",
						 path, k, json_is_string(v) ? json_string_value(v) : "a new value");
			return -1;
		}
		json_object_set(dst, k, v);
	}
	return 0;
}

static int
merge_properties(json_t *dst, json_t *src, const char *prefix, EsError *err)
{
	const char *k;
	json_t	   *v;

	json_object_foreach(src, k, v)
	{
		json_t	   *old = json_object_get(dst, k);
		char		path[512];

		snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] ? "." : "", k);
		if (!json_is_object(v))
		{
			es_error_set(err, 400, "mapper_parsing_exception",
						 "Expected map for property [fields] on field [%s] but got a %s",
						 path, json_is_string(v) ? "class java.lang.String" : "class java.lang.Object");
			return -1;
		}
		if (!old)
			json_object_set_new(dst, k, json_deep_copy(v));
		else if (merge_field(old, v, path, err) < 0)
			return -1;
	}
	return 0;
}

/* The merged mappings of one index (new reference), or NULL with err set. */
static json_t *
merged(const Index *ix, json_t *update, EsError *err)
{
	json_t	   *m = json_deep_copy(ix->mappings);
	const char *k;
	json_t	   *v;

	json_object_foreach(update, k, v)
	{
		if (strcmp(k, "properties") == 0)
		{
			json_t	   *props = json_object_get(m, "properties");

			if (!json_is_object(v))
			{
				es_error_set(err, 400, "mapper_parsing_exception",
							 "Failed to parse mapping [_doc]: Expected map for property [properties]");
				json_decref(m);
				return NULL;
			}
			if (!json_is_object(props))
			{
				props = json_object();
				json_object_set_new(m, "properties", props);
			}
			if (merge_properties(props, v, "", err) < 0)
			{
				json_decref(m);
				return NULL;
			}
		}
		else
			json_object_set(m, k, v);
	}
	return m;
}

void
indices_put_mapping(Server *srv, const Request *req, Response *resp, const char *expr)
{
	IndexList	l = {0};
	EsError		e;
	json_t	   *body,
			  **next;
	int			i;
	bool		ok = true;

	if (parse_json_body(srv, req, resp, &body) < 0)
		return;
	if (!json_is_object(body))
	{
		es_respond_error(resp, 400, "action_request_validation_exception",
						 "Validation Failed: 1: mapping source is missing;");
		json_decref(body);
		return;
	}
	if (store_resolve(srv->store, expr, RESOLVE_DEFAULT, &l, &e) < 0)
	{
		es_error_respond(resp, &e);
		json_decref(body);
		return;
	}
	next = calloc(l.n ? l.n : 1, sizeof(json_t *));
	for (i = 0; i < l.n && ok; i++)
		ok = (next[i] = merged(l.v[i], body, &e)) != NULL;
	for (i = 0; i < l.n; i++)
	{
		if (ok)
		{
			json_decref(l.v[i]->mappings);
			l.v[i]->mappings = next[i];
		}
		else
			json_decref(next[i]);
	}
	if (ok)
	{
		jb_reset(&resp->body);
		jb_cstr(&resp->body, "{\"acknowledged\":true}");
		response_json(resp, 200);
	}
	else
		es_error_respond(resp, &e);
	free(next);
	index_list_free(&l);
	json_decref(body);
}
