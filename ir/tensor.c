/* tensor.c - element types, tensor and shape helpers (see ir.h). */
#include "ir/ir.h"

#include <string.h>

static const struct {
    const char *name;
    size_t size;
} dtype_table[DT_COUNT_] = {
    [DT_UNDEFINED] = {"undefined", 0}, [DT_FLOAT] = {"float", 4},
    [DT_UINT8] = {"uint8", 1},         [DT_INT8] = {"int8", 1},
    [DT_UINT16] = {"uint16", 2},       [DT_INT16] = {"int16", 2},
    [DT_INT32] = {"int32", 4},         [DT_INT64] = {"int64", 8},
    [DT_STRING] = {"string", 0},       [DT_BOOL] = {"bool", 1},
    [DT_FLOAT16] = {"float16", 2},     [DT_DOUBLE] = {"double", 8},
    [DT_UINT32] = {"uint32", 4},       [DT_UINT64] = {"uint64", 8},
    [DT_COMPLEX64] = {"complex64", 8}, [DT_COMPLEX128] = {"complex128", 16},
    [DT_BFLOAT16] = {"bfloat16", 2},
};

bool dtype_valid(int t)
{
    return t > DT_UNDEFINED && t < DT_COUNT_;
}

size_t dtype_size(DType t)
{
    return dtype_valid(t) ? dtype_table[t].size : 0;
}

const char *dtype_name(DType t)
{
    return (t >= 0 && t < DT_COUNT_) ? dtype_table[t].name : "undefined";
}

int64_t tensor_numel(const Tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++)
        n *= t->dims[i];
    return n;
}

int64_t shape_numel(const Shape *s)
{
    if (s->rank < 0)
        return -1;
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++) {
        if (s->dims[i].value < 0)
            return -1;
        n *= s->dims[i].value;
    }
    return n;
}

bool shape_known(const Shape *s)
{
    return shape_numel(s) >= 0;
}

bool dim_equal(const Dim *a, const Dim *b)
{
    if (a->value >= 0 || b->value >= 0)
        return a->value == b->value;
    return a->param && b->param && !strcmp(a->param, b->param);
}

Shape shape_from_dims(int rank, const int64_t *dims)
{
    Shape s = {.rank = rank};
    for (int i = 0; i < rank; i++)
        s.dims[i].value = dims[i];
    return s;
}

int64_t tensor_get_int(const Tensor *t, int64_t i)
{
    const unsigned char *p = t->data;
    switch (t->dtype) {
    case DT_INT64: { int64_t v; memcpy(&v, p + 8 * i, 8); return v; }
    case DT_UINT64: { uint64_t v; memcpy(&v, p + 8 * i, 8); return (int64_t)v; }
    case DT_INT32: { int32_t v; memcpy(&v, p + 4 * i, 4); return v; }
    case DT_UINT32: { uint32_t v; memcpy(&v, p + 4 * i, 4); return v; }
    case DT_INT16: { int16_t v; memcpy(&v, p + 2 * i, 2); return v; }
    case DT_UINT16: { uint16_t v; memcpy(&v, p + 2 * i, 2); return v; }
    case DT_INT8: return (int8_t)p[i];
    case DT_UINT8:
    case DT_BOOL: return p[i];
    case DT_FLOAT:
    case DT_DOUBLE: return (int64_t)tensor_get_double(t, i);
    default: return 0;
    }
}

double tensor_get_double(const Tensor *t, int64_t i)
{
    const unsigned char *p = t->data;
    if (t->dtype == DT_FLOAT) {
        float v;
        memcpy(&v, p + 4 * i, 4);
        return v;
    }
    if (t->dtype == DT_DOUBLE) {
        double v;
        memcpy(&v, p + 8 * i, 8);
        return v;
    }
    return (double)tensor_get_int(t, i);
}
