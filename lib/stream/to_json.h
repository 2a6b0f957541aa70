// to_json.h: a msgpack object as JSON (for deal-cat, people and tests).
#ifndef DEAL_TO_JSON_H
#define DEAL_TO_JSON_H

#include <jansson.h>
#include <msgpack.h>

// Converts obj to a new jansson value; returns NULL (with *why set) for what
// JSON cannot hold: strings that are not UTF-8, binary data, non-string keys.
json_t *msgpack_to_json(const msgpack_object *obj, const char **why);

#endif
