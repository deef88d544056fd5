/*
 * sourcefilter.c — _source includes/excludes filtering (devsearch).
 *
 * Owns the implementation of sourcefilter.h.  Filtering parses the stored
 * bytes with jansson only when includes/excludes are present; otherwise the
 * stored bytes are written unchanged (byte-identical to what was indexed).
 */
#include <stdlib.h>
#include <string.h>

#include "sourcefilter.h"
#include "store.h"

static void
add_list(char ***arr, int *n, const char *csv)
{
	const char *p = csv;

	while (p && *p)
	{
		const char *c = strchr(p, ',');
		size_t		len = c ? (size_t) (c - p) : strlen(p);

		if (len > 0)
		{
			*arr = realloc(*arr, sizeof(char *) * (size_t) (*n + 1));
			if (*arr == NULL)
				abort();
			(*arr)[*n] = strndup(p, len);
			(*n)++;
		}
		p = c ? c + 1 : NULL;
	}
}

void
source_filter_from_request(SourceFilter *sf, const Request *req)
{
	const char *s = req_param(req, "_source");
	const char *v;

	memset(sf, 0, sizeof(*sf));
	sf->fetch = true;
	if (s)
	{
		if (strcmp(s, "false") == 0)
			sf->fetch = false;
		else if (strcmp(s, "true") != 0 && s[0] != '\0')
			add_list(&sf->inc, &sf->ninc, s);
	}
	if ((v = req_param(req, "_source_includes")) || (v = req_param(req, "_source_include")))
	{
		sf->fetch = true;
		add_list(&sf->inc, &sf->ninc, v);
	}
	if ((v = req_param(req, "_source_excludes")) || (v = req_param(req, "_source_exclude")))
	{
		sf->fetch = true;
		add_list(&sf->exc, &sf->nexc, v);
	}
}

static void
add_json_list(char ***arr, int *n, const json_t *v)
{
	size_t		i;
	json_t	   *e;

	if (json_is_string(v))
		add_list(arr, n, json_string_value(v));
	else if (json_is_array(v))
		json_array_foreach(v, i, e)
			if (json_is_string(e))
				add_list(arr, n, json_string_value(e));
}

void
source_filter_from_json(SourceFilter *sf, const json_t *v)
{
	memset(sf, 0, sizeof(*sf));
	sf->fetch = true;
	if (v == NULL)
		return;
	if (json_is_false(v))
		sf->fetch = false;
	else if (json_is_string(v) || json_is_array(v))
		add_json_list(&sf->inc, &sf->ninc, v);
	else if (json_is_object(v))
	{
		json_t	   *i = json_object_get(v, "includes");
		json_t	   *e = json_object_get(v, "excludes");

		if (!i)
			i = json_object_get(v, "include");
		if (!e)
			e = json_object_get(v, "exclude");
		add_json_list(&sf->inc, &sf->ninc, i);
		add_json_list(&sf->exc, &sf->nexc, e);
	}
}

bool
source_filter_is_identity(const SourceFilter *sf)
{
	return sf->fetch && sf->ninc == 0 && sf->nexc == 0;
}

static bool
any_match(char **pats, int n, const char *path)
{
	int			i;

	for (i = 0; i < n; i++)
		if (glob_match(pats[i], path))
			return true;
	return false;
}

/* could some include pattern match a descendant of path? */
static bool
may_match_below(char **pats, int n, const char *path)
{
	int			i;
	size_t		l = strlen(path);

	for (i = 0; i < n; i++)
	{
		const char *p = pats[i];
		const char *star = strchr(p, '*');
		size_t		fixed = star ? (size_t) (star - p) : strlen(p);

		if (star && (fixed <= l ? strncmp(p, path, fixed) == 0 : strncmp(p, path, l) == 0))
			return true;
		if (strlen(p) > l && strncmp(p, path, l) == 0 && p[l] == '.')
			return true;
	}
	return false;
}

static json_t *filter_obj(const SourceFilter *sf, json_t *obj, const char *prefix, bool included);

/*
 * An array keeps the path of the key holding it (as in Elasticsearch's
 * XContentMapValues.filter): scalars stay when that path is included, objects
 * are filtered below it and kept when something is left, nested arrays alike.
 */
static json_t *
filter_array(const SourceFilter *sf, json_t *arr, const char *path, bool included)
{
	json_t	   *out = json_array();
	size_t		i;
	json_t	   *e;

	json_array_foreach(arr, i, e)
	{
		json_t	   *sub = NULL;

		if (json_is_object(e))
			sub = filter_obj(sf, e, path, included);
		else if (json_is_array(e))
			sub = filter_array(sf, e, path, included);
		else if (included)
			json_array_append(out, e);
		if (sub == NULL)
			continue;
		if ((json_is_object(sub) && json_object_size(sub) > 0) ||
			(json_is_array(sub) && json_array_size(sub) > 0))
			json_array_append_new(out, sub);
		else
			json_decref(sub);
	}
	return out;
}

static json_t *
filter_obj(const SourceFilter *sf, json_t *obj, const char *prefix, bool included)
{
	json_t	   *out = json_object();
	const char *k;
	json_t	   *v;

	json_object_foreach(obj, k, v)
	{
		char	   *path;
		bool		inc;
		size_t		pl = strlen(prefix);

		path = malloc(pl + strlen(k) + 2);
		if (path == NULL)
			abort();
		if (pl)
		{
			memcpy(path, prefix, pl);
			path[pl] = '.';
			strcpy(path + pl + 1, k);
		}
		else
			strcpy(path, k);
		if (any_match(sf->exc, sf->nexc, path))
		{
			free(path);
			continue;
		}
		inc = included || sf->ninc == 0 || any_match(sf->inc, sf->ninc, path);
		if (json_is_object(v) || json_is_array(v))
		{
			if (inc || may_match_below(sf->inc, sf->ninc, path))
			{
				json_t	   *sub = json_is_object(v) ? filter_obj(sf, v, path, inc)
					: filter_array(sf, v, path, inc);
				size_t		n = json_is_object(sub) ? json_object_size(sub) : json_array_size(sub);

				if (inc || n > 0)
					json_object_set_new(out, k, sub);
				else
					json_decref(sub);
			}
		}
		else if (inc)
			json_object_set(out, k, v);
		free(path);
	}
	return out;
}

void
source_filter_write(JsonBuf *jb, const SourceFilter *sf, const char *src, size_t len)
{
	json_t	   *doc,
			   *out;

	if (source_filter_is_identity(sf))
	{
		jb_raw(jb, src, len);
		return;
	}
	doc = json_loadb(src, len, 0, NULL);
	if (doc == NULL || !json_is_object(doc))
	{
		json_decref(doc);
		jb_raw(jb, src, len);
		return;
	}
	out = filter_obj(sf, doc, "", false);
	jb_json(jb, out);
	json_decref(out);
	json_decref(doc);
}

void
source_filter_free(SourceFilter *sf)
{
	int			i;

	for (i = 0; i < sf->ninc; i++)
		free(sf->inc[i]);
	for (i = 0; i < sf->nexc; i++)
		free(sf->exc[i]);
	free(sf->inc);
	free(sf->exc);
	memset(sf, 0, sizeof(*sf));
}
