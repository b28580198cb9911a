/* ir.h - kdc's graph IR: models, graphs, values, nodes, attributes, tensors.
 *
 * A Model owns an Arena; every graph (including subgraphs held by attributes),
 * value, node, name and tensor of the model lives in it and dies with it.
 * Graph nodes are kept in topological order; a value is defined once (SSA):
 * by a node output, as a graph input, or as an initializer (Value.init).
 * Names are the ONNX names and are unique within a graph and its subgraphs.
 * Anything kdc does not model (non-tensor types, sparse initializers, model
 * functions, training info) is kept as packed protobuf bytes (Bytes) so that
 * it round-trips unchanged; only frontend/ and backend/ look inside those.
 */
#ifndef KDC_IR_H
#define KDC_IR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ir/arena.h"
#include "ir/diag.h"

#define IR_MAX_RANK 8

/* Element types, numbered as ONNX TensorProto.DataType. */
typedef enum {
    DT_UNDEFINED = 0,
    DT_FLOAT = 1,
    DT_UINT8 = 2,
    DT_INT8 = 3,
    DT_UINT16 = 4,
    DT_INT16 = 5,
    DT_INT32 = 6,
    DT_INT64 = 7,
    DT_STRING = 8,
    DT_BOOL = 9,
    DT_FLOAT16 = 10,
    DT_DOUBLE = 11,
    DT_UINT32 = 12,
    DT_UINT64 = 13,
    DT_COMPLEX64 = 14,
    DT_COMPLEX128 = 15,
    DT_BFLOAT16 = 16,
    DT_COUNT_
} DType;

/* Size of one element in bytes; 0 for DT_STRING and DT_UNDEFINED. */
size_t dtype_size(DType t);
/* "float", "int64", ...; "dtype(N)" style text is never returned: unknown -> "undefined". */
const char *dtype_name(DType t);
bool dtype_valid(int t);

typedef struct Bytes {
    const uint8_t *data;
    size_t len;
} Bytes;

/* One dimension: a known size (value >= 0), a named symbol (param != NULL,
 * value = -1), or unknown (value = -1, param = NULL). */
typedef struct Dim {
    int64_t value;
    const char *param;
} Dim;

/* rank = -1 means the rank itself is unknown. */
typedef struct Shape {
    int rank;
    Dim dims[IR_MAX_RANK];
} Shape;

/* What a Tensor carries: a tensor, or one of ONNX's container values at a
 * plan's edges and inside plans (ir/container.h). */
typedef enum { HOLDS_TENSOR = 0, HOLDS_SEQUENCE, HOLDS_OPTIONAL } Holds;

typedef struct Tensor {
    DType dtype;
    int rank;
    int64_t dims[IR_MAX_RANK];
    /* Fixed-size dtypes: numel * dtype_size bytes, little-endian, 64-byte aligned.
     * DT_BOOL is one byte per element (0 or 1); FLOAT16/BFLOAT16 raw 16-bit words. */
    void *data;
    size_t nbytes;
    Bytes *strings; /* DT_STRING: numel entries */
    const char *name;
    const char *doc;
    /* HOLDS_SEQUENCE: n_items tensors (dtype is their element type, also when
     * there are none); HOLDS_OPTIONAL: n_items 0 (empty) or 1 (a tensor or a
     * sequence). rank 0 and no data for both. */
    Holds holds;
    int n_items;
    struct Tensor *items;
} Tensor;

typedef struct Graph Graph;
typedef struct Node Node;

typedef enum {
    TYPE_NONE = 0, /* no type information */
    TYPE_TENSOR,   /* dtype + shape */
    TYPE_OPAQUE,   /* sequence/map/optional/sparse: packed onnx.TypeProto in opaque_type */
} TypeKind;

typedef struct Value {
    const char *name;
    const char *doc;
    TypeKind kind;
    DType dtype;     /* TYPE_TENSOR */
    Shape shape;     /* TYPE_TENSOR; rank -1 when unknown */
    Bytes opaque_type; /* TYPE_OPAQUE */
    Node *producer;  /* NULL for graph inputs, initializers, outer-scope values */
    int producer_output;
    Tensor *init;    /* initializer data (weights, constants), else NULL */
    Graph *graph;    /* the graph that defines this value */
    bool in_value_info; /* listed in GraphProto.value_info (intermediate values) */
    int id;          /* dense index in graph->values */
} Value;

/* Attribute kinds, numbered as ONNX AttributeProto.AttributeType. */
typedef enum {
    ATTR_UNDEFINED = 0,
    ATTR_FLOAT = 1,
    ATTR_INT = 2,
    ATTR_STRING = 3,
    ATTR_TENSOR = 4,
    ATTR_GRAPH = 5,
    ATTR_FLOATS = 6,
    ATTR_INTS = 7,
    ATTR_STRINGS = 8,
    ATTR_TENSORS = 9,
    ATTR_GRAPHS = 10,
    ATTR_SPARSE_TENSOR = 11,  /* packed onnx.SparseTensorProto in blobs[0] */
    ATTR_TYPE_PROTO = 13,     /* packed onnx.TypeProto in blobs[0] */
    ATTR_SPARSE_TENSORS = 12, /* packed, one per element in blobs */
    ATTR_TYPE_PROTOS = 14,
} AttrKind;

typedef struct Attr {
    const char *name;
    const char *doc;
    const char *ref_attr_name; /* set inside function bodies, else NULL */
    AttrKind kind;
    float f;
    int64_t i;
    Bytes s;
    Tensor *t;
    Graph *g;
    int n; /* element count of the list kinds below */
    float *floats;
    int64_t *ints;
    Bytes *strings;
    Tensor **tensors;
    Graph **graphs;
    Bytes *blobs; /* sparse tensors and type protos, packed */
} Attr;

#define OP_OPAQUE (-1)

struct Node {
    int op;             /* OpId from ir/ops.h, or OP_OPAQUE for ops kdc cannot compute */
    const char *op_type;
    const char *domain; /* "" for the default ai.onnx domain */
    const char *name;
    const char *doc;
    int opset;          /* version of this node's domain in the model's opset imports */
    int n_inputs, n_outputs, n_attrs;
    Value **inputs;     /* NULL entry: optional input left empty ("") */
    Value **outputs;    /* NULL entry: optional output not requested */
    Attr *attrs;
    int cap_attrs;      /* room in attrs; 0 when someone else sized the array */
    Graph *graph;
    int index; /* position in graph->nodes; refreshed by graph_index_nodes() */
};

struct Graph {
    Arena *arena;
    Graph *parent; /* enclosing graph for subgraphs, else NULL */
    const char *name;
    const char *doc;
    Value **values; /* every value defined in this graph, by id */
    int n_values, cap_values;
    Node **nodes;   /* topological order */
    int n_nodes, cap_nodes;
    Value **inputs;
    int n_inputs;
    Value **outputs;
    int n_outputs;
    Value **inits;  /* initializers in file order */
    int n_inits;
    Bytes *sparse_inits; /* packed onnx.SparseTensorProto */
    int n_sparse_inits;
    Bytes *quant_annotations; /* packed onnx.TensorAnnotation */
    int n_quant_annotations;
    /* name -> value hash (open addressing), private to ir/graph.c */
    Value **hash;
    int hash_cap;
};

typedef struct OpsetImport {
    const char *domain;
    int64_t version;
} OpsetImport;

typedef struct StringPair {
    const char *key;
    const char *value;
} StringPair;

typedef struct Model {
    Arena *arena;
    Graph *graph;
    int64_t ir_version;
    OpsetImport *opsets;
    int n_opsets;
    const char *producer_name, *producer_version, *domain, *doc;
    int64_t model_version;
    StringPair *metadata;
    int n_metadata;
    Bytes *functions; /* packed onnx.FunctionProto */
    int n_functions;
    Bytes *training_info; /* packed onnx.TrainingInfoProto */
    int n_training_info;
} Model;

/* ---- model and graph construction (ir/graph.c) ---- */
Model *model_new(void);
void model_free(Model *m);
/* Version of a domain's opset ("" and "ai.onnx" are the same), 0 if absent. */
int64_t model_opset(const Model *m, const char *domain);

Graph *graph_new(Arena *a, Graph *parent);
/* Defines a new value; NULL (with d set) if the name already exists in this
 * graph or an enclosing one. */
Value *graph_add_value(Graph *g, const char *name, Diag *d);
/* Defines a fresh value named prefix, prefix_1, ... whichever is free. */
Value *graph_new_value(Graph *g, const char *prefix);
/* Looks a name up in g, then in enclosing graphs. */
Value *graph_find_value(const Graph *g, const char *name);
/* Appends a node; inputs/outputs arrays are allocated and zeroed. */
Node *graph_add_node(Graph *g, const char *op_type, const char *domain, int n_inputs, int n_outputs);
/* Sets node output k to v and records v's producer. */
void node_set_output(Node *n, int k, Value *v);
/* Makes v an initializer holding t (t takes v's name; v's type from t) and
 * appends it to g's initializer list; false when out of memory. */
bool graph_set_init(Graph *g, Value *v, Tensor *t);
/* Appends v to g's outputs; false when out of memory. */
bool graph_append_output(Graph *g, Value *v);
Tensor *tensor_new(Arena *a, DType dtype, int rank, const int64_t *dims);
Attr *node_add_attr(Node *n, const char *name, AttrKind kind);
/* Removes nodes for which drop[node index] is true (values they define stay
 * in the table but lose their producer). */
void graph_remove_nodes(Graph *g, const bool *drop);
/* Re-sorts nodes topologically (stable); fails naming a node on a cycle or
 * on an input that nothing defines. */
Status graph_toposort(Graph *g, Diag *d);
/* Sets Node.index of every node of g to its position. */
void graph_index_nodes(Graph *g);
/* Replaces every use of `from` (node inputs, graph outputs, subgraphs) by `to`. */
void graph_replace_uses(Graph *g, Value *from, Value *to);
/* Number of node inputs (in g and its subgraphs) plus graph outputs using v. */
int graph_count_uses(const Graph *g, const Value *v);
/* v is listed among g's own inputs / outputs (not an enclosing graph's). */
bool graph_has_input(const Graph *g, const Value *v);
bool graph_has_output(const Graph *g, const Value *v);
/* A node for messages: its name, else its first output's name, else its op type. */
const char *node_display_name(const Node *n);

/* ---- attributes ---- */
const Attr *node_attr(const Node *n, const char *name);
int64_t node_attr_int(const Node *n, const char *name, int64_t dflt);
float node_attr_float(const Node *n, const char *name, float dflt);
/* Returns the list and its length in *count, or NULL/0 when absent. */
const int64_t *node_attr_ints(const Node *n, const char *name, int *count);
const float *node_attr_floats(const Node *n, const char *name, int *count);
/* NUL-terminated copy in the arena, or dflt when absent. */
const char *node_attr_string(const Node *n, const char *name, const char *dflt);

/* ---- tensors and shapes ---- */
int64_t tensor_numel(const Tensor *t);
/* Element count of a fully known shape, or -1 if any dim is unknown/symbolic. */
int64_t shape_numel(const Shape *s);
bool shape_known(const Shape *s);
bool dim_equal(const Dim *a, const Dim *b);
Shape shape_from_dims(int rank, const int64_t *dims);
/* Reads element i of an integer tensor (int32/int64/uint8/bool...) as int64. */
int64_t tensor_get_int(const Tensor *t, int64_t i);
double tensor_get_double(const Tensor *t, int64_t i);

/* ---- checking and printing (ir/verify.c, ir/print.c) ---- */
/* SSA, topological order, arity against the op table, input types known. */
Status ir_verify(const Model *m, Diag *d);
/* Writes the text form used by `kdc inspect --ir` and round-trip tests. */
void ir_print(const Model *m, void *file /* FILE* */);

#endif
