/* Unit tests for text.c: UTF-8 validation and repair, percent-decoding,
 * and one-member JSON objects for any bytes. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "text.h"

static bool valid(const char *s)
{
    return text_utf8_valid(s, strlen(s));
}

static bool repaired_is(const char *in, size_t len, const char *want)
{
    char out[64];
    size_t n = text_utf8_repair(in, len, out);
    return n == strlen(want) && strcmp(out, want) == 0;
}

static bool decoded_is(const char *in, const char *want)
{
    char out[64];
    size_t n = text_percent_decode(in, strlen(in), out);
    return n == strlen(want) && memcmp(out, want, n) == 0;
}

int main(void)
{
    size_t len;
    char *text;

    CHECK(valid("") && valid("plain ascii") && valid("caf\xc3\xa9") && valid("\xe2\x9c\x93") &&
          valid("\xf0\x9f\x98\x80"));
    CHECK(!valid("\xff") && !valid("\xc3") && !valid("\xc3\x28") && !valid("\xc0\xaf"));   /* overlong '/' */
    CHECK(!valid("\xe0\x80\xaf") && !valid("\xed\xa0\x80"));    /* overlong, surrogate */
    CHECK(!valid("\xf4\x90\x80\x80") && !valid("\xf8\x88\x80\x80\x80"));   /* above U+10FFFF */
    CHECK(text_utf8_valid("a\0b", 3));

    CHECK(repaired_is("ab", 2, "ab"));
    CHECK(repaired_is("a\xffz", 3, "a\xef\xbf\xbdz"));
    CHECK(repaired_is("x\\\xc3", 3, "x\\\xef\xbf\xbd"));       /* half a character at the end */
    CHECK(repaired_is("\xe2\x9c\x93", 3, "\xe2\x9c\x93"));

    CHECK(decoded_is("my%2Dflag", "my-flag"));
    CHECK(decoded_is("%6D%79", "my") && decoded_is("a%2fb", "a/b"));
    CHECK(decoded_is("a%252Db", "a%2Db"));                      /* once */
    CHECK(decoded_is("a%00b", "a%00b"));                        /* never a NUL */
    CHECK(decoded_is("%", "%") && decoded_is("%4", "%4") && decoded_is("%zz%41", "%zzA"));
    CHECK(decoded_is("a+b", "a+b") && decoded_is("", ""));

    text = text_json_object("error", "invalid escape near '\"x\\\xc3'", &len);
    CHECK(text != NULL && len == strlen(text));
    json_t *parsed = text ? json_loads(text, 0, NULL) : NULL;
    CHECK(parsed != NULL && json_is_string(json_object_get(parsed, "error")));
    CHECK(parsed != NULL && strcmp(json_string_value(json_object_get(parsed, "error")),
                                   "invalid escape near '\"x\\\xef\xbf\xbd'") == 0);
    json_decref(parsed);
    free(text);
    text = text_json_object("message", "Flag 'x' updated", &len);
    CHECK(text != NULL && strcmp(text, "{\"message\": \"Flag 'x' updated\"}") != 0 &&
          strcmp(text, "{\"message\":\"Flag 'x' updated\"}") == 0);
    free(text);
    /* The shape of a JSON text, before parsing. */
    {
        int depth;
        size_t elements;
        const char *t = "{\"a\":[1,{\"b\":[2,3]}],\"c\":\"}]\\\"[\"}";
        text_json_shape(t, strlen(t), &depth, &elements);
        CHECK(depth == 4 && elements == 7);   /* members a, c; 1, {b}; b; 2, 3 */
        text_json_shape("[]", 2, &depth, &elements);
        CHECK(depth == 1 && elements == 0);
        text_json_shape("\"[[[\"", 5, &depth, &elements);
        CHECK(depth == 0 && elements == 0);
        text_json_shape("[[[[[[[[[[", 10, &depth, &elements);
        CHECK(depth == 10);
    }
    return CHECK_DONE("unit[text]");
}
