/* cli.h - the kdc subcommands and what they share: error printing and the
 * graph preparation every command runs after import. Only cli/ prints
 * diagnostics and picks exit codes. */
#ifndef KDC_CLI_H
#define KDC_CLI_H

#include "ir/ir.h"

/* Exit codes: 0 success, 1 a failure of the input (model, recipe, data),
 * 2 a usage error on the command line. */
enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

int cmd_compress(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_shrink(int argc, char **argv);

/* Prints "kdc: error: MESSAGE" on stderr and returns EXIT_FAIL. */
int cli_fail(const Diag *d);
/* Prints "kdc: usage error: ..." with a hint to --help; returns EXIT_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Imports an ONNX file and normalizes it: shape inference, constant
 * folding, dead code removal, shape inference again, LayerNormalization
 * that the exporter decomposed fused back into one op, verification. */
Status cli_load_model(const char *path, Model **out, Diag *d);
/* Writes m as ONNX valid at its own opset: LayerNormalization expanded again
 * below opset 17 (m is changed), verification, then an atomic write. */
Status cli_write_model(Model *m, const char *path, Diag *d);

#endif
