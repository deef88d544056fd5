"""Mapping-based document validation in devsearch (contrib/devsearch/mapping.c).

A real cluster rejects, per item, documents whose fields do not fit the index
mapping; the streamer's dead-letter path (invariant I6) relies on it.  Each
test checks the exact error shapes of the Elasticsearch 8 flavor
(document_parsing_exception, "[line:col] " prefix) or the OpenSearch 2 flavor
(mapper_parsing_exception, no location), and that rejected documents are not
stored while accepted ones are.
"""
import json

import pytest

MAPPING = {
    "dynamic": "strict",
    "properties": {
        "i": {"type": "integer"},
        "l": {"type": "long"},
        "s": {"type": "short"},
        "b": {"type": "byte"},
        "f": {"type": "float"},
        "d": {"type": "double"},
        "ok": {"type": "boolean"},
        "k": {"type": "keyword"},
        "t": {"type": "text"},
        "when": {"type": "date"},
        "addr": {"type": "ip"},
        "strict_int": {"type": "integer", "coerce": False},
        "sloppy": {"type": "integer", "ignore_malformed": True},
        "user": {
            "properties": {
                "name": {"type": "keyword"},
                "age": {"type": "integer"},
                "extra": {"type": "object", "dynamic": False},
            }
        },
        "tags": {"type": "nested", "properties": {"v": {"type": "long"}}},
        "blob": {"type": "object", "enabled": False},
    },
}


def make_index(ds, name="m", mapping=MAPPING):
    st, body = ds.json("PUT", "/" + name, {"mappings": mapping})
    assert st == 200, body
    return name


def put(ds, doc, doc_id=None, index="m"):
    """PUT one document; without an id each call writes a fresh one, so a
    success is always 201."""
    if doc_id is None:
        put.n += 1
        doc_id = "d%d" % put.n
    return ds.json("PUT", "/%s/_doc/%s" % (index, doc_id), doc)


put.n = 0


def bulk_one(ds, doc, doc_id="1", index="m"):
    st, body = ds.bulk([{"index": {"_index": index, "_id": doc_id}}, doc])
    assert st == 200, body
    return body["items"][0]["index"]


def count(ds, index="m"):
    ds.json("POST", "/%s/_refresh" % index)
    st, body = ds.json("GET", "/%s/_count" % index)
    assert st == 200, body
    return body["count"]


@pytest.fixture
def es(ds):
    make_index(ds)
    return ds


@pytest.fixture
def os_(ds_factory):
    ds = ds_factory("--flavor", "opensearch")
    make_index(ds)
    return ds


# --- exact item shape, both flavors ----------------------------------------

def test_bulk_item_error_elasticsearch(es):
    item = bulk_one(es, {"i": "not a number"})
    assert item["status"] == 400
    assert item["error"] == {
        "type": "document_parsing_exception",
        "reason": "[1:7] failed to parse field [i] of type [integer] in document with id '1'. "
                  "Preview of field's value: 'not a number'",
        "caused_by": {"type": "number_format_exception",
                      "reason": 'For input string: "not a number"'},
    }
    assert count(es) == 0


def test_bulk_item_error_opensearch(os_):
    item = bulk_one(os_, {"i": "not a number"})
    assert item["status"] == 400
    assert item["error"] == {
        "type": "mapper_parsing_exception",
        "reason": "failed to parse field [i] of type [integer] in document with id '1'. "
                  "Preview of field's value: 'not a number'",
        "caused_by": {"type": "number_format_exception",
                      "reason": 'For input string: "not a number"'},
    }


def test_single_document_api_answers_top_level_400(es):
    st, body = put(es, {"l": "abc"}, "7")
    assert st == 400
    err = body["error"]
    assert body["status"] == 400
    assert err["type"] == "document_parsing_exception"
    assert err["reason"] == ("[1:7] failed to parse field [l] of type [long] in document with id '7'. "
                             "Preview of field's value: 'abc'")
    assert err["caused_by"] == {"type": "illegal_argument_exception",
                                "reason": 'For input string: "abc"'}
    assert err["root_cause"] == [{"type": "document_parsing_exception", "reason": err["reason"]}]
    st, _ = es.json("GET", "/m/_doc/7")
    assert st == 404


def test_location_counts_lines_and_bytes(es):
    # raw body: the bad value starts on line 3, column 8
    r, data = es.request("PUT", "/m/_doc/1", '{\n  "k": "x",\n  "i": true\n}')
    body = json.loads(data)
    assert r.status == 400
    assert body["error"]["reason"].startswith("[3:8] failed to parse field [i] of type [integer]")
    assert body["error"]["caused_by"] == {
        "type": "x_content_parse_exception",
        "reason": "[3:8] Current token (VALUE_TRUE) not numeric, can not use numeric value accessors"}


# --- integers ----------------------------------------------------------------

@pytest.mark.parametrize("value", [42, -7, "42", "4.5", " 12 ", 4.9, "", None, [1, "2", None]])
def test_integer_accepts(es, value):
    st, body = put(es, {"i": value})
    assert st == 201, body


@pytest.mark.parametrize("value,cause", [
    ("abc", ("number_format_exception", 'For input string: "abc"')),
    ("1x", ("number_format_exception", 'For input string: "1x"')),
    ("  ", ("number_format_exception", "empty String")),
    ("3000000000", ("illegal_argument_exception", "Value [3000000000] is out of range for an integer")),
    (3000000000, ("x_content_parse_exception",
                  "[1:7] Numeric value (3000000000) out of range of int (-2147483648 - 2147483647)")),
])
def test_integer_rejects(es, value, cause):
    st, body = put(es, {"i": value})
    assert st == 400, body
    assert (body["error"]["caused_by"]["type"], body["error"]["caused_by"]["reason"]) == cause


def test_short_and_byte_ranges(es):
    assert put(es, {"s": 32767, "b": -128})[0] == 201
    st, body = put(es, {"s": 40000})
    assert st == 400
    assert body["error"]["caused_by"]["reason"] == "Value [40000] is out of range for a short"
    st, body = put(es, {"b": "200"})
    assert st == 400
    assert body["error"]["caused_by"]["reason"] == "Value [200] is out of range for a byte"


def test_long_strings(es):
    assert put(es, {"l": "9223372036854775807"})[0] == 201
    assert put(es, {"l": "1.5e3"})[0] == 201
    st, body = put(es, {"l": "9223372036854775808"})
    assert st == 400
    assert body["error"]["caused_by"] == {
        "type": "illegal_argument_exception",
        "reason": "Value [9223372036854775808] is out of range for a long"}


def test_coerce_false(es):
    assert put(es, {"strict_int": 5})[0] == 201
    st, body = put(es, {"strict_int": "5"})
    assert st == 400
    assert body["error"]["caused_by"]["reason"] == "Integer value passed as String"
    st, body = put(es, {"strict_int": 4.5})
    assert st == 400
    assert body["error"]["caused_by"]["reason"] == "4.5 cannot be converted to Integer without data loss"


def test_ignore_malformed_accepts_anything(es):
    assert put(es, {"sloppy": "not a number"})[0] == 201


# --- floats, booleans, strings ---------------------------------------------------

def test_floats(es):
    assert put(es, {"f": 1.5, "d": "2.5e10"})[0] == 201
    st, body = put(es, {"d": "two"})
    assert st == 400
    assert body["error"]["caused_by"] == {"type": "number_format_exception",
                                          "reason": 'For input string: "two"'}
    st, body = put(es, {"f": 1e39})
    assert st == 400
    assert body["error"]["caused_by"]["reason"] == "[float] supports only finite values, but got [Infinity]"
    assert "Preview of field's value: '1.0E39'" in body["error"]["reason"]


def test_boolean(es):
    for v in (True, False, "true", "false", ""):
        assert put(es, {"ok": v})[0] == 201, v
    st, body = put(es, {"ok": "yes"})
    assert st == 400
    assert body["error"]["caused_by"] == {
        "type": "illegal_argument_exception",
        "reason": "Failed to parse value [yes] as only [true] or [false] are allowed."}
    st, body = put(es, {"ok": 1})
    assert st == 400
    assert body["error"]["caused_by"]["reason"] == "[1:8] Current token (VALUE_NUMBER_INT) not of boolean type"


def test_keyword_and_text_take_scalars_not_objects(es):
    assert put(es, {"k": 12, "t": True})[0] == 201
    assert put(es, {"k": ["a", 1, None]})[0] == 201
    st, body = put(es, {"k": {"b": 1, "a": "x"}}, "1")
    assert st == 400
    # the preview is Java's HashMap.toString (bucket order), the location
    # the object's closing brace (the parser's position after the preview)
    assert body["error"]["reason"] == (
        "[1:24] failed to parse field [k] of type [keyword] in document with id '1'. "
        "Preview of field's value: '{a=x, b=1}'")
    assert body["error"]["caused_by"] == {"type": "illegal_state_exception",
                                          "reason": "Can't get text on a START_OBJECT at 1:7"}


# --- dates and ips ---------------------------------------------------------------

@pytest.mark.parametrize("value", ["2024", "2024-01", "2024-01-15", "2024-01-15T10:00:00Z",
                                   "2024-01-15T10:00:00.123+01:00", "2024-01-15T10:00", "2024-02-29",
                                   1700000000000, "1700000000000"])
def test_date_accepts(es, value):
    st, body = put(es, {"when": value})
    assert st == 201, body


@pytest.mark.parametrize("value", ["yesterday", "2024-13", "2023-02-29", "2024-01-15T24:00:00Z",
                                   "2024-01-15T10:60", "15/01/2024", "", True])
def test_date_rejects(es, value):
    st, body = put(es, {"when": value})
    assert st == 400, body
    shown = "true" if value is True else value
    assert body["error"]["caused_by"] == {
        "type": "illegal_argument_exception",
        "reason": "failed to parse date field [%s] with format [strict_date_optional_time||epoch_millis]" % shown}


def test_ip(es):
    assert put(es, {"addr": "10.0.0.1"})[0] == 201
    assert put(es, {"addr": "::1"})[0] == 201
    st, body = put(es, {"addr": "10.0.0.300"})
    assert st == 400
    assert body["error"]["caused_by"]["reason"] == "'10.0.0.300' is not an IP string literal."


# --- dynamic ------------------------------------------------------------------------

def test_strict_rejects_unknown_fields_even_null(es):
    for doc, where in (({"zzz": 1}, "_doc"), ({"zzz": None}, "_doc"),
                       ({"user": {"nick": "x"}}, "user")):
        st, body = put(es, doc)
        assert st == 400, doc
        assert body["error"]["type"] == "strict_dynamic_mapping_exception"
        name = "zzz" if "zzz" in doc else "nick"
        assert body["error"]["reason"].endswith(
            "mapping set to strict, dynamic introduction of [%s] within [%s] is not allowed" % (name, where))
        assert "caused_by" not in body["error"]
    st, body = put(es, {"zzz": 1})
    assert body["error"]["reason"] == \
        "[1:9] mapping set to strict, dynamic introduction of [zzz] within [_doc] is not allowed"


def test_strict_opensearch_has_no_location(os_):
    st, body = put(os_, {"zzz": 1})
    assert st == 400
    assert body["error"]["reason"] == \
        "mapping set to strict, dynamic introduction of [zzz] within [_doc] is not allowed"


def test_dynamic_false_object_ignores_unknown_fields(es):
    assert put(es, {"user": {"extra": {"anything": {"deep": [1, "x"]}}}})[0] == 201


def test_dynamic_false_index(ds):
    make_index(ds, "loose", {"dynamic": False, "properties": {"n": {"type": "integer"}}})
    assert put(ds, {"other": {"x": "y"}, "n": 3}, index="loose")[0] == 201
    assert put(ds, {"n": "x"}, index="loose")[0] == 400


def test_dynamic_true_accepts_unknown_but_checks_mapped(ds):
    make_index(ds, "open", {"properties": {"n": {"type": "integer"}}})
    assert put(ds, {"anything": [1, {"a": 2}]}, index="open")[0] == 201
    assert put(ds, {"n": "x"}, index="open")[0] == 400


# --- objects, nested, arrays, dotted names -------------------------------------------

def test_nested_objects_report_full_path(es):
    st, body = put(es, {"user": {"name": "a", "age": "old"}})
    assert st == 400
    assert "failed to parse field [user.age] of type [integer]" in body["error"]["reason"]
    assert put(es, {"user": {"name": "a", "age": "30"}})[0] == 201


def test_object_given_a_concrete_value(es):
    st, body = put(es, {"user": "bob"})
    assert st == 400
    assert body["error"] == {
        "root_cause": [{"type": "document_parsing_exception",
                        "reason": "[1:10] object mapping for [user] tried to parse field [user] as object, "
                                  "but found a concrete value"}],
        "type": "document_parsing_exception",
        "reason": "[1:10] object mapping for [user] tried to parse field [user] as object, "
                  "but found a concrete value"}


def test_arrays_check_every_element(es):
    assert put(es, {"tags": [{"v": 1}, {"v": "2"}], "i": [1, [2, 3]]})[0] == 201
    st, body = put(es, {"tags": [{"v": 1}, {"v": "x"}]})
    assert st == 400
    assert "failed to parse field [tags.v] of type [long]" in body["error"]["reason"]
    st, body = put(es, {"i": [1, 2, "three"]})
    assert st == 400
    assert "Preview of field's value: 'three'" in body["error"]["reason"]


def test_dotted_field_names(es):
    assert put(es, {"user.age": 3})[0] == 201
    st, body = put(es, {"user.age": "x"})
    assert st == 400
    assert "failed to parse field [user.age]" in body["error"]["reason"]
    st, body = put(es, {"user.nick": 1})
    assert body["error"]["type"] == "strict_dynamic_mapping_exception"


def test_disabled_object_is_not_checked(es):
    assert put(es, {"blob": {"whatever": [1, {"x": "y"}]}})[0] == 201


def test_escaped_keys_are_decoded(es):
    r, data = es.request("PUT", "/m/_doc/1", '{"\\u0069": "nope"}')
    assert r.status == 400
    assert "failed to parse field [i] of type [integer]" in json.loads(data)["error"]["reason"]


# --- bulk mixing, versions, ids ----------------------------------------------------

def test_bulk_mixes_good_and_bad_items(es):
    lines = []
    for n in range(6):
        lines.append({"index": {"_index": "m", "_id": str(n)}})
        lines.append({"i": n} if n % 2 == 0 else {"i": "bad%d" % n})
    st, body = es.bulk(lines)
    assert st == 200
    assert body["errors"] is True
    statuses = [it["index"]["status"] for it in body["items"]]
    assert statuses == [201, 400, 201, 400, 201, 400]
    bad = body["items"][1]["index"]
    assert bad["_index"] == "m" and bad["_id"] == "1"
    assert bad["error"]["reason"].endswith("Preview of field's value: 'bad1'")
    assert count(es) == 3
    # seq_nos are consumed only by applied ops
    assert [it["index"].get("_seq_no") for it in body["items"]] == [0, None, 1, None, 2, None]


def test_mapping_error_wins_over_version_conflict(es):
    assert put(es, {"i": 1}, "v")[0] == 201
    st, body = es.json("PUT", "/m/_doc/v?version=1&version_type=external", {"i": "x"})
    assert st == 400
    assert body["error"]["type"] == "document_parsing_exception"


def test_auto_generated_id_is_named(es):
    st, body = es.json("POST", "/m/_doc", {"i": "x"})
    assert st == 400
    reason = body["error"]["reason"]
    assert "in document with id '" in reason
    auto = reason.split("in document with id '")[1].split("'")[0]
    assert len(auto) == 20


def test_create_op_is_checked(es):
    st, body = es.bulk([{"create": {"_index": "m", "_id": "c"}}, {"zzz": 1}])
    assert body["items"][0]["create"]["status"] == 400
    assert body["items"][0]["create"]["error"]["type"] == "strict_dynamic_mapping_exception"


def test_index_without_mapping_accepts_everything(ds):
    st, body = ds.bulk([{"index": {"_index": "auto", "_id": "1"}}, {"i": "anything", "x": {"y": [1]}}])
    assert body["errors"] is False
    make_index(ds, "plain", {"_routing": {"required": False}})
    assert put(ds, {"whatever": {"a": 1}}, index="plain")[0] == 201


def test_deleted_index_recreated_with_other_mapping(ds):
    # the parsed-mapping cache must follow the index, not its name
    make_index(ds, "r", {"properties": {"n": {"type": "integer"}}})
    assert put(ds, {"n": "x"}, index="r")[0] == 400
    assert ds.json("DELETE", "/r")[0] == 200
    make_index(ds, "r", {"properties": {"n": {"type": "keyword"}}})
    assert put(ds, {"n": "x"}, index="r")[0] == 201


# --- PUT /<index>/_mapping (mapping_put.c) ------------------------------------

def test_put_mapping_fixes_refusals_and_refuses_type_changes(os_):
    """The fix a reindex meets: ignore_malformed can be turned on in place and
    new fields added; a type cannot change (the real engine's error)."""
    assert bulk_one(os_, {"l": "abc"}, "1")["status"] == 400
    st, body = os_.json("PUT", "/m/_mapping", {"properties": {"l": {"type": "long", "ignore_malformed": True},
                                                               "new_one": {"type": "keyword"}}})
    assert (st, body) == (200, {"acknowledged": True})
    assert bulk_one(os_, {"l": "abc", "new_one": "x"}, "1")["status"] == 201
    st, body = os_.json("GET", "/m/_mapping")
    props = body["m"]["mappings"]["properties"]
    assert props["l"] == {"type": "long", "ignore_malformed": True} and props["new_one"] == {"type": "keyword"}
    assert props["i"] == MAPPING["properties"]["i"]

    st, body = os_.json("PUT", "/m/_mapping", {"properties": {"l": {"type": "text"}}})
    assert st == 400, body
    assert body["error"]["type"] == "illegal_argument_exception"
    assert body["error"]["reason"] == "mapper [l] cannot be changed from type [long] to [text]"
    st, body = os_.json("PUT", "/m/_mapping", {"properties": {"user": {"properties": {"age": {"type": "keyword"}}}}})
    assert st == 400 and body["error"]["reason"] == "mapper [user.age] cannot be changed from type [integer] to [keyword]", body
    st, body = os_.json("PUT", "/m/_mapping", {"properties": {"k": {"type": "keyword", "index": False}}})
    assert st == 400 and body["error"]["reason"].startswith("Mapper for [k] conflicts with existing mapper"), body
    # nothing of a refused update is applied
    st, body = os_.json("GET", "/m/_mapping")
    assert body["m"]["mappings"]["properties"]["k"] == {"type": "keyword"}
    st, body = os_.json("PUT", "/nope/_mapping", {"properties": {}})
    assert st == 404 and body["error"]["type"] == "index_not_found_exception", body
