#!/usr/bin/python3
"""check_model.py - run onnx.checker.check_model(full_check=True) on ONNX files.

    /usr/bin/python3 tests/check_model.py FILE...   (or @LIST: one path a line)

One Python process checks many files (importing onnx is the slow part). Prints
"FAIL <path>: <reason>" (one line) for each file the checker rejects, then
"N passed, N failed"; exits 1 if any file failed, 2 on usage errors.
"""
import sys

import onnx


def paths_from(args):
    for a in args:
        if a.startswith("@"):
            with open(a[1:]) as f:
                yield from (line.strip() for line in f if line.strip())
        else:
            yield a


def check(path):
    """Returns None when the checker accepts the file, else a one-line reason."""
    try:
        onnx.checker.check_model(path, full_check=True)
    except Exception as e:  # checker, parser and shape-inference errors alike
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        return "%s: %s" % (type(e).__name__, " | ".join(lines) or "no message")
    return None


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    passed = failed = 0
    for path in paths_from(argv[1:]):
        reason = check(path)
        if reason is None:
            passed += 1
        else:
            failed += 1
            print("FAIL %s: %s" % (path, reason))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
