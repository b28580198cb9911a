#!/usr/bin/python3
"""make_bad_models.py - writes the malformed ONNX files the frontend must reject.

    /usr/bin/python3 tests/bad/make_bad_models.py

Each file is tiny and broken in exactly one way. expected.txt lists, per file,
a piece of the one-line error kdc must give (tests/unit/test_frontend.c checks
that every *.onnx here fails with a message naming the file and containing it).
The outputs are committed; rerun this after changing it.
"""
import os
import random

import onnx
from onnx import TensorProto, helper

HERE = os.path.dirname(os.path.abspath(__file__))
EXPECTED = []


def write(name, data, expect):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)
    EXPECTED.append((name, expect))


def model(nodes, inputs, outputs, inits=(), opset=13):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def x_in(shape=(4, 4)):
    return helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))


def y_out(shape=(4, 4)):
    return helper.make_tensor_value_info("y", TensorProto.FLOAT, list(shape))


def with_init(t, dims=(4, 4)):
    """x + w = y, with a hand-made initializer tensor w."""
    add = helper.make_node("Add", ["x", "w"], ["y"])
    return model([add], [x_in(dims)], [y_out(dims)], [t]).SerializeToString()


def raw_tensor(dims, data_type=TensorProto.FLOAT, raw=b""):
    t = TensorProto()
    t.name = "w"
    t.data_type = data_type
    t.dims.extend(dims)
    t.raw_data = raw
    return t


def external_tensor(location, offset=None, length=None):
    t = TensorProto()
    t.name = "w"
    t.data_type = TensorProto.FLOAT
    t.dims.extend([4, 4])
    t.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", offset), ("length", length)):
        if value is not None:
            entry = t.external_data.add()
            entry.key, entry.value = key, str(value)
    return t


def parse_failures():
    good = with_init(helper.make_tensor("w", TensorProto.FLOAT, [4, 4], [1.0] * 16))
    # cut near the end: the graph's length prefix then runs past the end of the data
    write("truncated.onnx", good[: len(good) - 20], "not a valid ONNX model (protobuf parse failed)")
    rng = random.Random(1234)
    # 0xff starts a 10-byte varint tag whose last byte keeps the continuation bit
    write("random_bytes.onnx", bytes([0xFF] * 10) + bytes(rng.randrange(256) for _ in range(200)),
          "not a valid ONNX model (protobuf parse failed)")
    write("empty.onnx", b"", "the model has no graph")
    no_graph = onnx.ModelProto(ir_version=8, opset_import=[helper.make_opsetid("", 13)])
    write("no_graph.onnx", no_graph.SerializeToString(), "the model has no graph")


def tensor_failures():
    write("raw_data_short.onnx", with_init(raw_tensor([4, 4], raw=bytes(10))),
          "initializer 'w': raw_data holds 10 bytes but dims [4,4] of float need 64")
    write("negative_dim.onnx", with_init(raw_tensor([-2, 8])),
          "initializer 'w': negative dimension in dims [-2,8]")
    write("overflow_numel.onnx", with_init(raw_tensor([1 << 31, 1 << 31, 1 << 31])),
          "initializer 'w': dims [2147483648,2147483648,2147483648] overflow the element count")
    write("overflow_bytes.onnx", with_init(raw_tensor([1 << 62])),
          "initializer 'w': dims [4611686018427387904] of float overflow the byte size")
    # a legal byte size far larger than the file: must fail before allocating
    write("huge_dims.onnx", with_init(raw_tensor([1 << 20, 1 << 20])),
          "initializer 'w': raw_data holds 0 bytes but dims [1048576,1048576] of float need 4398046511104")
    typed = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[2, 2], float_data=[1.0, 2.0, 3.0])
    write("typed_count.onnx", with_init(typed, (2, 2)),
          "initializer 'w': float_data holds 3 values but dims [2,2] of float need 4")
    write("unknown_dtype.onnx", with_init(raw_tensor([1], data_type=99, raw=bytes(4)), (1,)),
          "initializer 'w': unknown data_type 99")
    write("rank_too_big.onnx", model([helper.make_node("Relu", ["x"], ["y"])], [x_in([1] * 9)], [y_out([1] * 9)])
          .SerializeToString(), "graph input 'x': rank 9 exceeds kdc's maximum of 8")


def graph_failures():
    relu = helper.make_node("Relu", ["nope"], ["y"], name="r")
    write("undefined_input.onnx", model([relu], [x_in()], [y_out()]).SerializeToString(),
          "node 'r' (Relu): input 'nope' is not defined")
    twice = [helper.make_node("Relu", ["x"], ["y"], name="a"), helper.make_node("Neg", ["x"], ["y"], name="b")]
    write("defined_twice.onnx", model(twice, [x_in()], [y_out()]).SerializeToString(),
          "node 'b' (Neg) output 'y': value 'y' is defined more than once")
    cycle = [helper.make_node("Relu", ["t"], ["y"], name="a"), helper.make_node("Neg", ["y"], ["t"], name="b")]
    write("cycle.onnx", model(cycle, [x_in()], [y_out()]).SerializeToString(), "is part of a cycle")
    untyped = helper.make_node("LeakyRelu", ["x"], ["y"], name="lr")
    untyped.attribute.add().MergeFrom(onnx.AttributeProto(name="alpha", f=0.1))
    write("attr_no_type.onnx", model([untyped], [x_in()], [y_out()]).SerializeToString(),
          "node 'lr' (LeakyRelu) attribute 'alpha': unknown attribute type 0")
    bad_type = helper.make_node("LeakyRelu", ["x"], ["y"], name="lr")
    # field 20 (type) = 99: not an AttributeType; onnx's Python API refuses to set it
    bad_type.attribute.add().MergeFromString(onnx.AttributeProto(name="alpha").SerializeToString() + b"\xa0\x01\x63")
    write("attr_bad_type.onnx", model([bad_type], [x_in()], [y_out()]).SerializeToString(),
          "node 'lr' (LeakyRelu) attribute 'alpha': unknown attribute type 99")
    write("deep_nesting.onnx", nested_ifs(120), "nested deeper than 200 levels")


def nested_ifs(depth):
    """An If whose then-branch holds an If ... depth times (three message levels each)."""
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    leaf = helper.make_graph([helper.make_node("Constant", [], ["y"], value_float=1.0)], "leaf", [], [out])
    body = leaf
    for i in range(depth):  # else_branch stays a leaf, or the file would double at every level
        node = helper.make_node("If", ["c"], ["y"], then_branch=body, else_branch=leaf)
        body = helper.make_graph([node], "level%d" % i, [], [out])
    cond = helper.make_tensor_value_info("c", TensorProto.BOOL, [])
    graph = helper.make_graph(list(body.node), "g", [cond], [out])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()


def external_failures():
    write("external_escape.onnx", with_init(external_tensor("../secret.bin")),
          "initializer 'w': external data location '../secret.bin' leaves the model's folder")
    write("external_missing.onnx", with_init(external_tensor("missing.bin")),
          "initializer 'w': cannot open external data")
    with open(os.path.join(HERE, "external_range.bin"), "wb") as f:
        f.write(bytes(32))
    write("external_range.onnx", with_init(external_tensor("external_range.bin", offset=16, length=64)),
          "initializer 'w': external data range offset 16 length 64 lies outside")
    write("external_size.onnx", with_init(external_tensor("external_range.bin")),
          "initializer 'w': external data holds 32 bytes but dims [4,4] of float need 64")


def main():
    parse_failures()
    tensor_failures()
    graph_failures()
    external_failures()
    with open(os.path.join(HERE, "expected.txt"), "w") as f:
        f.write("# file<TAB>part of the expected one-line error (written by make_bad_models.py)\n")
        for name, expect in EXPECTED:
            f.write("%s\t%s\n" % (name, expect))


if __name__ == "__main__":
    main()
