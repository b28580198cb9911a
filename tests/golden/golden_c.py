"""golden_c.py - C initializers for the golden-value scripts beside it (tests/golden/*.py).

Each script prints the arrays its unit test pastes; these helpers format them: one-line
arrays (one_line_*) or arrays wrapped at 100 columns (c_array and the wrapped_* helpers).
Floats are printed so that they read back exactly.
"""


def one_line_floats(name, flat):
    """static const float name[n] = {...}; flat: the values, each exact in float32."""
    vals = ", ".join(repr(v) + "f" for v in flat)
    return "static const float %s[%d] = {%s};" % (name, len(flat), vals)


def one_line_doubles(name, flat):
    vals = ", ".join("%.17g" % v for v in flat)
    return "static const double %s[%d] = {%s};" % (name, len(flat), vals)


def c_array(decl, texts):
    """decl = {...}; with the values wrapped at 100 columns."""
    lines, line = [], "   "
    for text in texts:
        if len(line) + len(text) + 2 > 100:
            lines.append(line)
            line = "   "
        line += " " + text + ","
    lines.append(line)
    return "%s = {\n%s\n};" % (decl, "\n".join(lines))


def wrapped_floats(name, vals):
    # 9 significant digits give back the float32 value exactly.
    return c_array("static const float %s[%d]" % (name, len(vals)), ["%.9g" % v for v in vals])


def wrapped_doubles(name, vals):
    return c_array("static const double %s[%d]" % (name, len(vals)), ["%.17g" % v for v in vals])


def tensor_floats(name, x, wrapped=False):
    """A tensor's values as a float array; they must be exact in float32 (inputs the C test
    feeds as floats are the very values the reference computed from)."""
    flat = x.reshape(-1)
    assert bool((flat.float().double() == flat).all()), "inputs must be exact in float"
    return (wrapped_floats if wrapped else one_line_floats)(name, flat.tolist())


def tensor_doubles(name, x, wrapped=False):
    """A tensor's values as a double array (expected results)."""
    return (wrapped_doubles if wrapped else one_line_doubles)(name, x.reshape(-1).tolist())
