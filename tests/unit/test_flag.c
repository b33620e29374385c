/* Unit tests for flag.c: name rule, request decoding, rendering. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "flag.h"

static bool valid(const char *name) { return flag_name_valid(name, strlen(name)); }

static void test_names(void)
{
    char longest[FLAG_NAME_MAX + 2];

    CHECK(valid("a"));
    CHECK(valid("9"));
    CHECK(valid("new-checkout.v2:eu_west"));
    CHECK(!valid(""));
    CHECK(!valid("-leading-dash"));
    CHECK(!valid(".hidden"));
    CHECK(!valid("_under"));
    CHECK(!valid("has space"));
    CHECK(!valid("slash/inside"));
    CHECK(!valid("percent%41"));
    CHECK(!valid("caf\xc3\xa9"));
    memset(longest, 'x', FLAG_NAME_MAX);
    longest[FLAG_NAME_MAX] = '\0';
    CHECK(valid(longest));
    longest[FLAG_NAME_MAX] = 'x';
    longest[FLAG_NAME_MAX + 1] = '\0';
    CHECK(!valid(longest));
    /* An embedded NUL is not part of any valid name. */
    CHECK(!flag_name_valid("ab\0cd", 5));
}

static int create(const char *body, struct flag_create_request *out, char *err)
{
    return flag_decode_create(body, strlen(body), out, err, 256);
}

static void test_decode_create(void)
{
    struct flag_create_request in;
    char err[256];

    CHECK(create("{\"name\":\"beta\",\"is_enabled\":true}", &in, err) == 0);
    CHECK(strcmp(in.name, "beta") == 0 && in.is_enabled);
    CHECK(create("{\"name\":\"beta\"}", &in, err) == 0 && !in.is_enabled);
    CHECK(create("{\"name\":\"beta\",\"extra\":[1,2],\"is_enabled\":false}", &in, err) == 0);

    CHECK(create("", &in, err) == -1 && strstr(err, "JSON object") != NULL);
    CHECK(create("[]", &in, err) == -1 && strstr(err, "JSON object") != NULL);
    CHECK(create("\"beta\"", &in, err) == -1 && strstr(err, "JSON object") != NULL);
    CHECK(create("{\"name\":", &in, err) == -1 && strstr(err, "invalid JSON") != NULL);
    CHECK(create("{}", &in, err) == -1 && strstr(err, "'name'") != NULL);
    CHECK(create("{\"name\":5}", &in, err) == -1 && strstr(err, "'name'") != NULL);
    CHECK(create("{\"name\":\"bad name\"}", &in, err) == -1 && strstr(err, "'name' must be") != NULL);
    CHECK(create("{\"name\":\"a\",\"is_enabled\":1}", &in, err) == -1 && strstr(err, "'is_enabled'") != NULL);
    CHECK(create("{\"name\":\"a\",\"is_enabled\":\"true\"}", &in, err) == -1);
    CHECK(create("{\"name\":\"a\",\"is_enabled\":null}", &in, err) == -1);
    CHECK(create("{\"name\":\"a\",\"name\":\"b\"}", &in, err) == -1);  /* duplicate key */
    CHECK(create("{\"name\":\"a\\u0000b\"}", &in, err) == -1);          /* NUL in a string */
    CHECK(flag_decode_create("{\"name\":\"a\"}\0junk", 15, &in, err, sizeof err) == -1);
}

static void test_decode_update(void)
{
    struct flag_update_request in;
    char err[256];

    CHECK(flag_decode_update("{\"is_enabled\":true}", 19, &in, err, sizeof err) == 0 && in.is_enabled);
    CHECK(flag_decode_update("{\"is_enabled\":false,\"name\":\"x\"}", 31, &in, err, sizeof err) == 0 &&
          !in.is_enabled);
    CHECK(flag_decode_update("{}", 2, &in, err, sizeof err) == -1 && strstr(err, "required") != NULL);
    CHECK(flag_decode_update("{\"is_enabled\":0}", 16, &in, err, sizeof err) == -1 &&
          strstr(err, "boolean") != NULL);
    CHECK(flag_decode_update("nope", 4, &in, err, sizeof err) == -1);
}

static void test_create(void)
{
    struct flag_row row = {.name = "beta", .id = 7, .is_enabled = true};
    struct flag *f = flag_create(&row), *g;

    CHECK(f != NULL && f->id == 7 && f->is_enabled && f->name_len == 4 && strcmp(f->name, "beta") == 0);
    CHECK(f != NULL && f->body_len == strlen("{\"name\":\"beta\",\"is_enabled\":true}") &&
          memcmp(f->body, "{\"name\":\"beta\",\"is_enabled\":true}", f->body_len) == 0);
    CHECK(f != NULL && f->name_hash == flag_name_hash("beta", 4));
    CHECK(flag_name_hash("beta", 4) != flag_name_hash("betb", 4));
    g = flag_ref(f);
    CHECK(g == f && atomic_load(&f->refs) == 2);
    flag_unref(g);
    flag_unref(f);
    /* Names the original monolith allowed are escaped, never spliced raw. */
    row.name = "quote\"back\\slash";
    row.is_enabled = false;
    f = flag_create(&row);
    CHECK(f != NULL && f->body_len == strlen("{\"name\":\"quote\\\"back\\\\slash\",\"is_enabled\":false}") &&
          memcmp(f->body, "{\"name\":\"quote\\\"back\\\\slash\",\"is_enabled\":false}", f->body_len) == 0);
    flag_unref(f);
    /* A stored name that is not UTF-8 (a row another program wrote) is
     * still a flag, kept by its bytes and shown with U+FFFD. */
    row.name = "bad\xff";
    f = flag_create(&row);
    CHECK(f != NULL && f->name_len == 4 && memcmp(f->name, "bad\xff", 4) == 0);
    CHECK(f != NULL && memmem(f->body, f->body_len, "\"bad\xef\xbf\xbd\"", 8) != NULL);
    flag_unref(f);
}

int main(void)
{
    test_names();
    test_decode_create();
    test_decode_update();
    test_create();
    return CHECK_DONE("unit[flag]");
}
