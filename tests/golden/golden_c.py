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
