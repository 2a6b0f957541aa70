// to_json.c: msgpack -> jansson.
#include "stream/to_json.h"

#include <stdint.h>

json_t *msgpack_to_json(const msgpack_object *o, const char **why) {
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: return json_null();
    case MSGPACK_OBJECT_BOOLEAN: return json_boolean(o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (o->via.u64 > (uint64_t)INT64_MAX) return *why = "integer too large for JSON", NULL;
        return json_integer((json_int_t)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return json_integer(o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return json_real(o->via.f64);
    case MSGPACK_OBJECT_STR: {
        json_t *s = json_stringn(o->via.str.ptr, o->via.str.size);
        if (!s) *why = "string is not valid UTF-8";
        return s;
    }
    case MSGPACK_OBJECT_ARRAY: {
        json_t *a = json_array();
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            json_t *v = msgpack_to_json(&o->via.array.ptr[i], why);
            if (!v) return json_decref(a), NULL;
            json_array_append_new(a, v);
        }
        return a;
    }
    case MSGPACK_OBJECT_MAP: {
        json_t *m = json_object();
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object *k = &o->via.map.ptr[i].key;
            if (k->type != MSGPACK_OBJECT_STR) return *why = "map key is not a string", json_decref(m), NULL;
            json_t *v = msgpack_to_json(&o->via.map.ptr[i].val, why);
            if (!v || json_object_setn_new(m, k->via.str.ptr, k->via.str.size, v) != 0) {
                if (v) *why = "map key is not valid UTF-8";
                return json_decref(m), NULL;
            }
        }
        return m;
    }
    default: return *why = "binary or extension data has no JSON form", NULL;
    }
}
