/*-------------------------------------------------------------------------
 *
 * host_allow.c
 *	  Matching hosts and socket addresses against reindex.allowed_hosts; the
 *	  list's syntax and the rules are described in host_allow.h.
 *
 *	  Plain C with libcurl types only (no postgres.h): the backend and the
 *	  streamer compile this same file.  Nothing here allocates, logs or
 *	  longjmps.
 *
 * IDENTIFICATION
 *	  src/common/host_allow.c
 *
 *-------------------------------------------------------------------------
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "host_allow.h"

#define ENTRY_MAX 256

/* one parsed entry of the list */
typedef struct Entry
{
	bool		is_addr;
	int			family;			/* AF_INET or AF_INET6 */
	unsigned char addr[16];
	int			prefix;
	bool		wildcard;		/* "*.suffix" */
	char		name[ENTRY_MAX];	/* lower case, no trailing dot */
} Entry;

static bool
is_sep(char c)
{
	return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static char
ascii_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char) (c - 'A' + 'a') : c;
}

/* Parse an address literal (brackets allowed) into family/addr. */
static bool
parse_addr(const char *s, int *family, unsigned char *addr)
{
	char		buf[ENTRY_MAX];
	size_t		n = strlen(s);

	if (n >= sizeof(buf))
		return false;
	if (n >= 2 && s[0] == '[' && s[n - 1] == ']')
	{
		memcpy(buf, s + 1, n - 2);
		buf[n - 2] = '\0';
	}
	else
		memcpy(buf, s, n + 1);
	if (inet_pton(AF_INET, buf, addr) == 1)
	{
		*family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, buf, addr) == 1)
	{
		static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

		/* an IPv4-mapped IPv6 address is that IPv4 address */
		if (memcmp(addr, mapped, 12) == 0)
		{
			memmove(addr, addr + 12, 4);
			*family = AF_INET;
		}
		else
			*family = AF_INET6;
		return true;
	}
	return false;
}

/* Parse one entry of length n at s. */
static bool
parse_entry(const char *s, size_t n, Entry *e)
{
	char		buf[ENTRY_MAX];
	char	   *slash;
	size_t		i;

	memset(e, 0, sizeof(*e));
	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';

	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (parse_addr(buf, &e->family, e->addr))
	{
		int			max = e->family == AF_INET ? 32 : 128;

		e->is_addr = true;
		e->prefix = max;
		if (slash)
		{
			char	   *p = slash + 1;
			int			v = 0;

			if (*p == '\0')
				return false;
			for (; *p; p++)
			{
				if (*p < '0' || *p > '9')
					return false;
				v = v * 10 + (*p - '0');
				if (v > 128)
					return false;
			}
			/* a mapped IPv6 range counts in IPv4 bits */
			if (e->family == AF_INET && strchr(buf, ':'))
				v -= 96;
			if (v < 0 || v > max)
				return false;
			e->prefix = v;
		}
		return true;
	}
	if (slash)
		return false;

	/* a host name, possibly "*.suffix" */
	i = 0;
	if (buf[0] == '*')
	{
		if (buf[1] != '.' || buf[2] == '\0')
			return false;
		e->wildcard = true;
		i = 2;
	}
	n = strlen(buf);
	if (n > i && buf[n - 1] == '.')
		buf[--n] = '\0';
	if (n == i)
		return false;
	for (; i < n; i++)
	{
		char		c = ascii_lower(buf[i]);

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
			  c == '.' || c == '_'))
			return false;
		buf[i] = c;
	}
	strcpy(e->name, buf + (e->wildcard ? 2 : 0));
	return true;
}

/*
 * Walk the entries of list: calls fn on each, stops early when fn returns
 * true (result true), or when an entry does not parse (result false, *bad
 * set to its start and *badlen to its length).
 */
typedef bool (*EntryFn) (const Entry *e, const void *arg);

static bool
walk(const char *list, EntryFn fn, const void *arg, const char **bad, size_t *badlen)
{
	const char *p = list ? list : "";

	if (bad)
		*bad = NULL;
	for (;;)
	{
		const char *start;
		Entry		e;

		while (*p && is_sep(*p))
			p++;
		if (*p == '\0')
			return false;
		start = p;
		while (*p && !is_sep(*p))
			p++;
		if (!parse_entry(start, (size_t) (p - start), &e))
		{
			if (bad)
			{
				*bad = start;
				*badlen = (size_t) (p - start);
			}
			return false;
		}
		if (fn && fn(&e, arg))
			return true;
	}
}

bool
host_allow_list_valid(const char *list, char *err, size_t errlen)
{
	const char *bad;
	size_t		badlen = 0;

	walk(list, NULL, NULL, &bad, &badlen);
	if (bad == NULL)
		return true;
	if (err && errlen > 0)
		snprintf(err, errlen, "\"%.*s\" is neither a host name, an address nor an address/prefix range.",
				 (int) (badlen > 200 ? 200 : badlen), bad);
	return false;
}

bool
host_allow_list_empty(const char *list)
{
	if (list == NULL)
		return true;
	for (; *list; list++)
		if (!is_sep(*list))
			return false;
	return true;
}

typedef struct AddrArg
{
	int			family;
	unsigned char addr[16];
} AddrArg;

static bool
match_addr(const Entry *e, const void *arg)
{
	const AddrArg *a = arg;
	int			full,
				rest;

	if (!e->is_addr || e->family != a->family)
		return false;
	full = e->prefix / 8;
	rest = e->prefix % 8;
	if (memcmp(e->addr, a->addr, full) != 0)
		return false;
	if (rest)
	{
		unsigned char mask = (unsigned char) (0xff << (8 - rest));

		if ((e->addr[full] & mask) != (a->addr[full] & mask))
			return false;
	}
	return true;
}

static bool
match_name(const Entry *e, const void *arg)
{
	const char *host = arg;
	size_t		hn,
				en;

	if (e->is_addr)
		return false;
	if (!e->wildcard)
		return strcmp(e->name, host) == 0;
	hn = strlen(host);
	en = strlen(e->name);
	return hn > en + 1 && host[hn - en - 1] == '.' && strcmp(host + hn - en, e->name) == 0;
}

/* does the (parsed) list hold an entry, and does it parse at all? */
static bool
list_usable(const char *list)
{
	return host_allow_list_valid(list, NULL, 0);
}

bool
host_allow_name(const char *list, const char *host)
{
	AddrArg		a;
	char		name[ENTRY_MAX];
	size_t		n,
				i;

	if (host_allow_list_empty(list))
		return true;
	if (!list_usable(list) || host == NULL)
		return false;
	if (parse_addr(host, &a.family, a.addr))
		return walk(list, match_addr, &a, NULL, NULL);
	n = strlen(host);
	if (n >= sizeof(name))
		return false;
	for (i = 0; i < n; i++)
		name[i] = ascii_lower(host[i]);
	name[n] = '\0';
	if (n > 0 && name[n - 1] == '.')
		name[--n] = '\0';
	return walk(list, match_name, name, NULL, NULL);
}

bool
host_allow_addr(const char *list, const struct sockaddr *sa)
{
	AddrArg		a;

	if (host_allow_list_empty(list))
		return true;
	if (!list_usable(list) || sa == NULL)
		return false;
	if (sa->sa_family == AF_INET)
	{
		a.family = AF_INET;
		memcpy(a.addr, &((const struct sockaddr_in *) sa)->sin_addr, 4);
	}
	else if (sa->sa_family == AF_INET6)
	{
		static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		const unsigned char *b = (const unsigned char *) &((const struct sockaddr_in6 *) sa)->sin6_addr;

		if (memcmp(b, mapped, 12) == 0)
		{
			a.family = AF_INET;
			memcpy(a.addr, b + 12, 4);
		}
		else
		{
			a.family = AF_INET6;
			memcpy(a.addr, b, 16);
		}
	}
	else
		return false;			/* no unix sockets or other families */
	return walk(list, match_addr, &a, NULL, NULL);
}

bool
host_allow_url_host(const char *url, char *host, size_t hostlen)
{
	const char *p = strstr(url ? url : "", "://");
	const char *end;
	size_t		n;

	if (p == NULL || hostlen == 0)
		return false;
	p += 3;
	/* user information is refused at endpoint_add; skip it all the same */
	end = p + strcspn(p, "/?#");
	{
		const char *at = memchr(p, '@', (size_t) (end - p));

		if (at)
			p = at + 1;
	}
	if (*p == '[')
	{
		const char *close = memchr(p, ']', (size_t) (end - p));

		if (close == NULL)
			return false;
		p++;
		end = close;
	}
	else
	{
		const char *colon = memchr(p, ':', (size_t) (end - p));

		if (colon)
			end = colon;
	}
	n = (size_t) (end - p);
	if (n == 0 || n >= hostlen)
		return false;
	memcpy(host, p, n);
	host[n] = '\0';
	return true;
}

void
host_allow_addr_text(const struct sockaddr *sa, char *out, size_t outlen)
{
	const void *a = NULL;

	if (sa && sa->sa_family == AF_INET)
		a = &((const struct sockaddr_in *) sa)->sin_addr;
	else if (sa && sa->sa_family == AF_INET6)
		a = &((const struct sockaddr_in6 *) sa)->sin6_addr;
	if (a == NULL || inet_ntop(sa->sa_family, a, out, (socklen_t) outlen) == NULL)
		snprintf(out, outlen, "(address family %d)", sa ? sa->sa_family : -1);
}

void
host_allow_check_init(HostAllowCheck *check, const char *list, const char *url)
{
	char		host[ENTRY_MAX];

	memset(check, 0, sizeof(*check));
	check->list = list;
	check->name_allowed = host_allow_list_empty(list) ||
		(host_allow_url_host(url, host, sizeof(host)) && host_allow_name(list, host));
}

static curl_socket_t
opensocket_cb(void *clientp, curlsocktype purpose, struct curl_sockaddr *address)
{
	HostAllowCheck *check = clientp;

	(void) purpose;
	if (!check->name_allowed && !host_allow_addr(check->list, &address->addr))
	{
		if (check->refused[0] == '\0')
			host_allow_addr_text(&address->addr, check->refused, sizeof(check->refused));
		return CURL_SOCKET_BAD;
	}
	return socket(address->family, address->socktype, address->protocol);
}

void
host_allow_install(CURL *curl, HostAllowCheck *check)
{
	if (host_allow_list_empty(check->list))
		return;
	curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, opensocket_cb);
	curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, check);
	curl_easy_setopt(curl, CURLOPT_PROXY, "");
}
