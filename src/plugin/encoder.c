/*-------------------------------------------------------------------------
 *
 * encoder.c
 *	  The one document encoder: writes a row's document id, its document
 *	  (a compact JSON object) and its key object straight into a
 *	  StringInfo.  The output plugin and reindex.document() both call it,
 *	  so a row renders to the same bytes in the stream and in the backfill.
 *
 *	  Invariants:
 *	  - Output is compact JSON on one line: no newline is ever written
 *		(json/jsonb values are embedded with insignificant whitespace
 *		removed; strings escape every control character).
 *	  - Values never depend on session settings: floats use the shortest
 *		exact representation, dates and times are written here in ISO 8601
 *		(timestamptz in UTC with "Z"), intervals in the "postgres" style.
 *	  - Non-finite numbers are JSON strings: "NaN", "Infinity",
 *		"-Infinity"; non-finite dates and timestamps are "infinity" and
 *		"-infinity".
 *	  - Memory is allocated in the caller's current context, which the
 *		caller resets (per change in the plugin, per call in SQL).
 *
 * IDENTIFICATION
 *	  src/plugin/encoder.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "common/base64.h"
#include "common/shortest_dec.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "encoder.h"
#include "pg_compat.h"
#include "wire_format.h"

static void append_scalar(StringInfo out, TypeEnc *type, Datum value,
						  bool quote);

/*---- output primitives ----*/

/* appendStringInfoChar without the call: the hot path is one compare */
static inline void
put_char(StringInfo out, char c)
{
	if (unlikely(out->len + 1 >= out->maxlen))
		enlargeStringInfo(out, 1);
	out->data[out->len++] = c;
	out->data[out->len] = '\0';
}

static inline void
put_bytes(StringInfo out, const char *s, int len)
{
	if (unlikely(out->len + len >= out->maxlen))
		enlargeStringInfo(out, len);
	memcpy(out->data + out->len, s, len);
	out->len += len;
	out->data[out->len] = '\0';
}

/*---- strings ----*/

/* 0: copy as is; otherwise the character after the backslash ('u': \u00XX) */
static const char json_escape[256] = {
	'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'b', 't', 'n', 'u', 'f', 'r', 'u', 'u',
	'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
	0, 0, '"', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, '\\', 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 'u',
};

/* s[0..len) JSON-escaped, without quotes */
static void
append_json_escaped(StringInfo out, const char *s, int len)
{
	const char *run = s;
	const char *end = s + len;
	const char *p;

	enlargeStringInfo(out, len);
	for (p = s; p < end; p++)
	{
		char		e = json_escape[(unsigned char) *p];

		if (likely(e == 0))
			continue;
		if (p > run)
			appendBinaryStringInfo(out, run, p - run);
		if (e == 'u')
			appendStringInfo(out, "\\u%04x", (unsigned char) *p);
		else
		{
			put_char(out, '\\');
			put_char(out, e);
		}
		run = p + 1;
	}
	if (p > run)
		appendBinaryStringInfo(out, run, p - run);
}

/* s[0..len) as a JSON string, quotes included */
void
encoder_append_json_string(StringInfo out, const char *s, int len)
{
	enlargeStringInfo(out, len + 2);
	out->data[out->len++] = '"';
	append_json_escaped(out, s, len);
	put_char(out, '"');
}

static inline void
append_text(StringInfo out, const char *s, int len, bool quote)
{
	if (quote)
		encoder_append_json_string(out, s, len);
	else
		appendBinaryStringInfo(out, s, len);
}

/* valid JSON text, minus whitespace outside strings */
static void
append_json_compact(StringInfo out, const char *s, int len)
{
	bool		in_string = false;

	enlargeStringInfo(out, len);
	for (int i = 0; i < len; i++)
	{
		char		c = s[i];

		if (in_string)
		{
			if (c == '\\' && i + 1 < len)
			{
				out->data[out->len++] = c;
				c = s[++i];
			}
			else if (c == '"')
				in_string = false;
		}
		else if (c == ' ' || c == '\n' || c == '\t' || c == '\r')
			continue;
		else if (c == '"')
			in_string = true;
		out->data[out->len++] = c;
	}
	out->data[out->len] = '\0';
}

/*---- dates and times ----*/

/*
 * Dates and times are formatted into a small char buffer (fmt_* return the
 * end) and appended at once: this is the hot path of timestamp columns.
 */

/* n >= 0 as exactly width digits (more if needed) */
static char *
fmt_digits(char *p, int n, int width)
{
	char		buf[16];
	int			len = 0;

	do
	{
		buf[len++] = '0' + n % 10;
		n /= 10;
	} while (n > 0 || len < width);
	while (len > 0)
		*p++ = buf[--len];
	return p;
}

/* 0 <= n as two digits (more if needed) */
static inline char *
fmt_2(char *p, int n)
{
	if (unlikely(n > 99))
		return fmt_digits(p, n, 2);
	p[0] = '0' + n / 10;
	p[1] = '0' + n % 10;
	return p + 2;
}

/* ISO 8601 astronomical years: 0000 is 1 BC, -0001 is 2 BC */
static char *
fmt_date(char *p, int year, int mon, int mday)
{
	if (year < 0)
	{
		*p++ = '-';
		year = -year;
	}
	if (likely(year <= 9999))
	{
		p = fmt_2(p, year / 100);
		p = fmt_2(p, year % 100);
	}
	else
		p = fmt_digits(p, year, 4);
	*p++ = '-';
	p = fmt_2(p, mon);
	*p++ = '-';
	return fmt_2(p, mday);
}

/* hh:mm:ss, then the fraction: always 6 digits, or trimmed and only if any */
static char *
fmt_time(char *p, int hour, int min, int sec, int usec, bool full_fraction)
{
	p = fmt_2(p, hour);
	*p++ = ':';
	p = fmt_2(p, min);
	*p++ = ':';
	p = fmt_2(p, sec);
	if (full_fraction || usec != 0)
	{
		*p++ = '.';
		p = fmt_2(p, usec / 10000);
		p = fmt_2(p, usec / 100 % 100);
		p = fmt_2(p, usec % 100);
		if (!full_fraction)
			while (p[-1] == '0')
				p--;
	}
	return p;
}

static void
append_date_part(StringInfo out, int year, int mon, int mday)
{
	char		buf[32];

	put_bytes(out, buf, fmt_date(buf, year, mon, mday) - buf);
}

static void
append_time_part(StringInfo out, int hour, int min, int sec, int usec,
				 bool full_fraction)
{
	char		buf[32];

	put_bytes(out, buf,
			  fmt_time(buf, hour, min, sec, usec, full_fraction) - buf);
}

static void
append_tz_offset(StringInfo out, int seconds_east)
{
	int			a = abs(seconds_east);

	appendStringInfo(out, "%c%02d:%02d", seconds_east < 0 ? '-' : '+',
					 a / SECS_PER_HOUR, (a / SECS_PER_MINUTE) % MINS_PER_HOUR);
	if (a % SECS_PER_MINUTE != 0)
		appendStringInfo(out, ":%02d", a % SECS_PER_MINUTE);
}

static void
append_timestamp(StringInfo out, Timestamp ts, bool utc, bool full_fraction)
{
	struct pg_tm tm;
	fsec_t		fsec;
	char		buf[64];
	char	   *p = buf;

	if (timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	p = fmt_date(p, tm.tm_year, tm.tm_mon, tm.tm_mday);
	*p++ = 'T';
	p = fmt_time(p, tm.tm_hour, tm.tm_min, tm.tm_sec, fsec, full_fraction);
	if (utc)
		*p++ = 'Z';
	put_bytes(out, buf, p - buf);
}

/* the commit time of the wire format: UTC, always microseconds */
void
encoder_append_iso_timestamp(StringInfo out, int64 ts, bool utc)
{
	append_timestamp(out, ts, utc, true);
}

static void
append_time_of_day(StringInfo out, TimeADT t)
{
	int			hour = t / USECS_PER_HOUR;

	t -= hour * USECS_PER_HOUR;
	append_time_part(out, hour, t / USECS_PER_MINUTE,
					 (t % USECS_PER_MINUTE) / USECS_PER_SEC,
					 t % USECS_PER_SEC, false);
}

/*---- values ----*/

/* one dimension of an array, nested arrays for the inner ones */
static void
append_array_dim(StringInfo out, TypeEnc *elem, int ndim, const int *dims,
				 int d, const Datum *elems, const bool *nulls, int *idx)
{
	put_char(out, '[');
	for (int i = 0; i < dims[d]; i++)
	{
		if (i > 0)
			put_char(out, ',');
		if (d < ndim - 1)
			append_array_dim(out, elem, ndim, dims, d + 1, elems, nulls, idx);
		else
		{
			if (nulls[*idx])
				appendStringInfoString(out, "null");
			else
				encoder_append_value(out, elem, elems[*idx]);
			(*idx)++;
		}
	}
	put_char(out, ']');
}

/* arrays of any dimension; lower bounds are not kept */
static void
append_array(StringInfo out, TypeEnc *type, Datum value)
{
	ArrayType  *arr = DatumGetArrayTypeP(value);
	TypeEnc    *elem = type->elem;
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	int			idx = 0;

	if (ARR_NDIM(arr) == 0)
	{
		appendStringInfoString(out, "[]");
		return;
	}
	deconstruct_array(arr, ARR_ELEMTYPE(arr), elem->typlen, elem->typbyval,
					  elem->typalign, &elems, &nulls, &nelems);
	append_array_dim(out, elem, ARR_NDIM(arr), ARR_DIMS(arr), 0, elems, nulls,
					 &idx);
}

static void
append_composite(StringInfo out, TypeEnc *type, Datum value)
{
	HeapTupleHeader th = DatumGetHeapTupleHeader(value);
	HeapTupleData tuple;
	TupleDesc	desc = type->tupdesc;
	Datum	   *values = palloc(sizeof(Datum) * desc->natts);
	bool	   *nulls = palloc(sizeof(bool) * desc->natts);

	tuple.t_len = HeapTupleHeaderGetDatumLength(th);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = th;
	heap_deform_tuple(&tuple, desc, values, nulls);

	put_char(out, '{');
	for (int f = 0; f < type->nfields; f++)
	{
		FieldEnc   *field = &type->fields[f];

		if (f > 0)
			put_char(out, ',');
		put_bytes(out, field->json_name, field->json_name_len);
		if (nulls[field->attno])
			appendStringInfoString(out, "null");
		else
			encoder_append_value(out, field->type, values[field->attno]);
	}
	put_char(out, '}');
}

static void
append_special_number(StringInfo out, const char *word, bool quote)
{
	if (quote)
		appendStringInfo(out, "\"%s\"", word);
	else
		appendStringInfoString(out, word);
}

/*
 * A value as JSON (quote) or as the raw text a document id is made of
 * (!quote: strings unquoted, structured values as their JSON).
 */
static void
append_scalar(StringInfo out, TypeEnc *type, Datum value, bool quote)
{
	char		buf[MAXDATELEN + 1];
	int			n;

	switch (type->kind)
	{
		case ENC_INT2:
			n = pg_itoa(DatumGetInt16(value), buf);
			appendBinaryStringInfo(out, buf, n);
			break;
		case ENC_INT4:
			n = pg_ltoa(DatumGetInt32(value), buf);
			appendBinaryStringInfo(out, buf, n);
			break;
		case ENC_INT8:
			n = pg_lltoa(DatumGetInt64(value), buf);
			appendBinaryStringInfo(out, buf, n);
			break;
		case ENC_FLOAT4:
		case ENC_FLOAT8:
			{
				double		d = type->kind == ENC_FLOAT4 ?
					(double) DatumGetFloat4(value) : DatumGetFloat8(value);

				if (isnan(d))
					append_special_number(out, "NaN", quote);
				else if (isinf(d))
					append_special_number(out, d > 0 ? "Infinity" : "-Infinity",
										  quote);
				else
				{
					if (type->kind == ENC_FLOAT4)
						n = float_to_shortest_decimal_buf(DatumGetFloat4(value), buf);
					else
						n = double_to_shortest_decimal_buf(d, buf);
					appendBinaryStringInfo(out, buf, n);
				}
			}
			break;
		case ENC_NUMERIC:
			{
				char	   *s = OutputFunctionCall(&type->outfunc, value);

				/* numeric_out spells the specials NaN, Infinity, -Infinity */
				if (s[0] == 'N' || s[0] == 'I' || (s[0] == '-' && s[1] == 'I'))
					append_special_number(out, s, quote);
				else
					appendStringInfoString(out, s);
			}
			break;
		case ENC_BOOL:
			appendStringInfoString(out, DatumGetBool(value) ? "true" : "false");
			break;
		case ENC_TEXT:
			{
				text	   *t = DatumGetTextPP(value);

				append_text(out, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), quote);
			}
			break;
		case ENC_NAME:
			{
				char	   *s = NameStr(*DatumGetName(value));

				append_text(out, s, strlen(s), quote);
			}
			break;
		case ENC_JSON:
			{
				text	   *t = DatumGetTextPP(value);

				append_json_compact(out, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
			}
			break;
		case ENC_JSONB:
			{
				Jsonb	   *jb = DatumGetJsonbP(value);
				StringInfoData tmp;

				initStringInfo(&tmp);
				JsonbToCString(&tmp, &jb->root, VARSIZE(jb));
				append_json_compact(out, tmp.data, tmp.len);
				pfree(tmp.data);
			}
			break;
		case ENC_DATE:
			{
				DateADT		d = DatumGetDateADT(value);
				int			y,
							m,
							day;

				if (quote)
					put_char(out, '"');
				if (DATE_NOT_FINITE(d))
					appendStringInfoString(out, DATE_IS_NOBEGIN(d) ? "-infinity" : "infinity");
				else
				{
					j2date(d + POSTGRES_EPOCH_JDATE, &y, &m, &day);
					append_date_part(out, y, m, day);
				}
				if (quote)
					put_char(out, '"');
			}
			break;
		case ENC_TIME:
			if (quote)
				put_char(out, '"');
			append_time_of_day(out, DatumGetTimeADT(value));
			if (quote)
				put_char(out, '"');
			break;
		case ENC_TIMETZ:
			{
				TimeTzADT  *t = DatumGetTimeTzADTP(value);

				if (quote)
					put_char(out, '"');
				append_time_of_day(out, t->time);
				append_tz_offset(out, -t->zone);
				if (quote)
					put_char(out, '"');
			}
			break;
		case ENC_TIMESTAMP:
		case ENC_TIMESTAMPTZ:
			{
				Timestamp	ts = DatumGetTimestamp(value);

				if (quote)
					put_char(out, '"');
				if (TIMESTAMP_NOT_FINITE(ts))
					appendStringInfoString(out, TIMESTAMP_IS_NOBEGIN(ts) ? "-infinity" : "infinity");
				else
					append_timestamp(out, ts, type->kind == ENC_TIMESTAMPTZ, false);
				if (quote)
					put_char(out, '"');
			}
			break;
		case ENC_INTERVAL:
			{
				struct pg_itm itm;

				interval2itm(*DatumGetIntervalP(value), &itm);
				EncodeInterval(&itm, INTSTYLE_POSTGRES, buf);
				append_text(out, buf, strlen(buf), quote);
			}
			break;
		case ENC_UUID:
			{
				pg_uuid_t  *u = DatumGetUUIDP(value);
				static const char hex[] = "0123456789abcdef";

				n = 0;
				for (int i = 0; i < UUID_LEN; i++)
				{
					if (i == 4 || i == 6 || i == 8 || i == 10)
						buf[n++] = '-';
					buf[n++] = hex[u->data[i] >> 4];
					buf[n++] = hex[u->data[i] & 0xF];
				}
				append_text(out, buf, n, quote);
			}
			break;
		case ENC_BYTEA:
			{
				bytea	   *b = DatumGetByteaPP(value);
				int			len = VARSIZE_ANY_EXHDR(b);
				int			enclen = pg_b64_enc_len(len);

				enlargeStringInfo(out, enclen + 3);
				if (quote)
					out->data[out->len++] = '"';
				n = pg_b64_encode(REINDEX_B64_SRC(VARDATA_ANY(b)), len, out->data + out->len,
								  enclen + 1);
				if (n < 0)
					elog(ERROR, "could not encode bytea as base64");
				out->len += n;
				if (quote)
					out->data[out->len++] = '"';
				out->data[out->len] = '\0';
			}
			break;
		case ENC_ARRAY:
			append_array(out, type, value);
			break;
		case ENC_COMPOSITE:
			append_composite(out, type, value);
			break;
		case ENC_OTHER:
			{
				char	   *s = OutputFunctionCall(&type->outfunc, value);

				append_text(out, s, strlen(s), quote);
			}
			break;
	}
}

/* a non-null value as JSON */
void
encoder_append_value(StringInfo out, TypeEnc *type, Datum value)
{
	append_scalar(out, type, value, true);
}

/*---- rows ----*/

static inline int
value_index(RelInfo *ri, const int *map, int c)
{
	return map ? map[c] : ri->cols[c].attnum - 1;
}

static inline bool
needs_id_escape(char ch)
{
	return json_escape[(unsigned char) ch] != 0 ||
		ch == REINDEX_ID_SEPARATOR || ch == REINDEX_ID_ESCAPE;
}

/*
 * One id part, id-escaped (\ and | get a backslash) and then JSON-escaped,
 * so the whole id is the JSON string of the joined id text.
 */
static void
append_id_part_escaped(StringInfo out, const char *s, int len)
{
	const char *run = s;

	for (const char *p = s; p < s + len; p++)
	{
		if (*p != REINDEX_ID_SEPARATOR && *p != REINDEX_ID_ESCAPE)
			continue;
		append_json_escaped(out, run, p - run);
		appendStringInfoString(out, "\\\\");	/* the id escape, JSON-escaped */
		append_json_escaped(out, p, 1);
		run = p + 1;
	}
	append_json_escaped(out, run, s + len - run);
}

/*
 * The document id: the key columns' raw text, each part escaped (\ and |
 * get a backslash) and joined with |, as a JSON string.  Each part is
 * rendered in place; only a part that needs escaping is copied and
 * rewritten, so the common id costs no allocation.
 */
void
encoder_append_id(StringInfo out, RelInfo *ri, const Datum *values,
				  const bool *nulls, const int *map)
{
	relinfo_require_key(ri);
	put_char(out, '"');
	for (int k = 0; k < ri->nkeys; k++)
	{
		int			c = ri->keycols[k];
		int			v = value_index(ri, map, c);
		int			start;
		int			i;

		if (nulls[v])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("key column \"%s\" of table \"%s.%s\" is null",
							ri->cols[c].name, ri->nspname, ri->relname),
					 errdetail("A document id cannot be built without every key column.")));
		if (k > 0)
			put_char(out, REINDEX_ID_SEPARATOR);
		start = out->len;
		append_scalar(out, ri->cols[c].type, values[v], false);
		for (i = start; i < out->len; i++)
			if (needs_id_escape(out->data[i]))
				break;
		if (i < out->len)
		{
			int			rawlen = out->len - start;
			char	   *raw = palloc(rawlen);

			memcpy(raw, out->data + start, rawlen);
			out->len = start;
			append_id_part_escaped(out, raw, rawlen);
			pfree(raw);
		}
	}
	put_char(out, '"');
}

/* the document: the selected columns (all if selected is NULL) */
void
encoder_append_document(StringInfo out, RelInfo *ri, const Datum *values,
						const bool *nulls, const int *map,
						const bool *selected)
{
	bool		first = true;

	put_char(out, '{');
	for (int c = 0; c < ri->ncols; c++)
	{
		int			v;

		if (selected && !selected[c])
			continue;
		v = value_index(ri, map, c);
		if (!first)
			put_char(out, ',');
		first = false;
		put_bytes(out, ri->cols[c].json_name, ri->cols[c].json_name_len);
		if (nulls[v])
			appendStringInfoString(out, "null");
		else
			append_scalar(out, ri->cols[c].type, values[v], true);
	}
	put_char(out, '}');
}

/* the key object of a refetch event: only the key columns */
void
encoder_append_key(StringInfo out, RelInfo *ri, const Datum *values,
				   const bool *nulls, const int *map)
{
	relinfo_require_key(ri);
	put_char(out, '{');
	for (int k = 0; k < ri->nkeys; k++)
	{
		int			c = ri->keycols[k];
		int			v = value_index(ri, map, c);

		if (k > 0)
			put_char(out, ',');
		put_bytes(out, ri->cols[c].json_name, ri->cols[c].json_name_len);
		if (nulls[v])
			appendStringInfoString(out, "null");
		else
			append_scalar(out, ri->cols[c].type, values[v], true);
	}
	put_char(out, '}');
}
