/* strnorm.c - StringNormalizer's stop-word matching (see strnorm.h). */
#include "ir/strnorm.h"

int strnorm_ascii_lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static bool text_equal(Bytes a, Bytes b, bool case_sensitive)
{
    if (a.len != b.len)
        return false;
    for (size_t i = 0; i < a.len; i++)
        if (case_sensitive ? a.data[i] != b.data[i]
                           : strnorm_ascii_lower(a.data[i]) != strnorm_ascii_lower(b.data[i]))
            return false;
    return true;
}

bool strnorm_is_stop_word(const Attr *stops, Bytes s, bool case_sensitive)
{
    for (int k = 0; stops && k < stops->n; k++)
        if (text_equal(s, stops->strings[k], case_sensitive))
            return true;
    return false;
}
