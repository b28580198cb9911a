/* tests/unit/test_recipe_errors.c - the recipe loader's errors: a table of recipe texts,
 * each with the exact one-line message, "file:line:col: problem", it must produce, and the
 * unreadable-file cases. Every case runs in a fresh temporary folder (recipe_fixture.h).
 */
#include "tests/unit/recipe_fixture.h"

/* ---- bad recipes ---- */

static void test_unreadable(void **state)
{
    Fixture *fx = *state;
    Recipe r;
    Diag d;
    char path[256], want[512];
    snprintf(path, sizeof path, "%s/none.yaml", fx->dir);
    assert_int_equal(recipe_load(path, &r, &d), KDC_ERR);
    snprintf(want, sizeof want, "%s: cannot read: No such file or directory", path);
    assert_string_equal(d.msg, want);
    assert_null(r.path);
    assert_int_equal(recipe_load(fx->dir, &r, &d), KDC_ERR);
    snprintf(want, sizeof want, "%s: cannot read: Is a directory", fx->dir);
    assert_string_equal(d.msg, want);
    recipe_free(&r);
}


#define STUDENT_KEYS                                                                                                   \
    "width, params, macs, importance, round_to, seed, protect, width_for, free_outputs, calibration_samples, depth, "  \
    "drop, drop_alternate, init, train_norm, train_norm_dense"
#define IMPORTANCES "one of l1, l2, bn_scale, activation, taylor, random"
#define DISTILL_KEYS "temperature, alpha, losses, teacher_mix, stages, cache_teacher, online"
#define TEACHER_HELP "(the teacher .onnx model to distill, or a list of {model: PATH, weight: W})"
#define LOSS_KEYS                                                                                                      \
    "kind, weight, teacher, temperature, smoothing, pairs, p, distance_weight, angle_weight, feat_dim, negatives, "    \
    "nce_temperature, momentum"
#define LOSS_KIND_WORDS "one of kd, ce, hint, attention, similarity, relation, contrastive, pkt, correlation"
#define FEATURE_KIND_WORDS "hint, attention, similarity, relation, contrastive, pkt, correlation"
#define ONLINE_KIND "online distillation trains both models on kd and ce; loss kind"
#define HINT_STAGE                                                                                                     \
    "a hint stage trains the student on the hint losses alone, but 'losses' has no loss of kind hint with a weight "   \
    "above 0; add one"
#define CACHE_AUGMENT "cache_teacher: true needs un-augmented data: the teacher must see each augmented batch"
#define ALPHA_LOSSES                                                                                                   \
    "distill.alpha weighs kd against ce when distill.losses is not given; with distill.losses give each loss its "     \
    "weight"

/* The two lines of data.train and data.test in BASE. */
#define SPLITS                                                                                                         \
    "  train: {format: idx, inputs: data/train-images.gz, labels: data/train-labels.gz}\n"                             \
    "  test: {format: npy, inputs: data/test-images.npy, labels: data/test-labels.npy}\n"

/* BASE without its teacher: five lines; cases append theirs from line 6. */
#define BASE_NO_TEACHER                                                                                                \
    "kdc: 1\n"                                                                                                         \
    "data:\n"                                                                                                          \
    "  train: {format: idx, inputs: data/train-images.gz, labels: data/train-labels.gz}\n"                             \
    "  test: {format: npy, inputs: data/test-images.npy, labels: data/test-labels.npy}\n"                              \
    "output: out/student.onnx\n"
#define ALIAS_HINT "; quote globs that start with '*' (YAML reads *name as an alias)"

typedef struct BadCase {
    const char *text;
    const char *want; /* after "PATH:"; "$D" stands for the temporary folder */
} BadCase;

static const BadCase BAD[] = {
    /* unknown keys */
    {BASE "student: {widht: 0.5}\n", "7:11: unknown key 'widht' in 'student' (did you mean 'width'?)"},
    {BASE "colour: red\n",
     "7:1: unknown key 'colour' (known keys: kdc, teacher, teachers, data, student, distill, train, output)"},
    {BASE "train:\n  epoch: 3\n", "8:3: unknown key 'epoch' in 'train' (did you mean 'epochs'?)"},
    {"kdc: 1\nteacher: teacher.onnx\ndata:\n  train: {format: idx, input: x, labels: y}\n",
     "4:24: unknown key 'input' in 'data.train' (did you mean 'inputs'?)"},
    {BASE "distill: {x: 1}\n", "7:11: unknown key 'x' in 'distill' (known keys: " DISTILL_KEYS ")"},
    {BASE "? [a, b]\n: 1\n", "7:3: keys must be names, got a list"},
    /* wrong types */
    {BASE "train:\n  epochs: five\n", "8:11: 'epochs' must be an integer, got 'five'"},
    {BASE "train: {epochs: 2.5}\n", "7:17: 'epochs' must be an integer, got '2.5'"},
    {BASE "train: {epochs: [1]}\n", "7:17: 'epochs' must be an integer, got a list"},
    {BASE "train: {epochs: }\n", "7:17: 'epochs' must be an integer, got nothing"},
    {BASE "train: {lr: fast}\n", "7:13: 'lr' must be a number, got 'fast'"},
    {BASE "train: {lr: .inf}\n", "7:13: 'lr' must be a number, got '.inf'"},
    {BASE "train: {lr: 1e999}\n", "7:13: 'lr' must be a finite number, got '1e999'"},
    {BASE "train: {seed: 1.5}\n", "7:15: 'seed' must be a non-negative integer, got '1.5'"},
    {BASE "data: &d {train: *d}\n", "7:1: duplicate key 'data' (first given at 3:1)"},
    {"kdc: 1\nteacher: teacher.onnx\ndata: &d {train: *d}\n",
     "3:11: unknown key 'train' in 'data.train' (known keys: format, inputs, labels)"},
    {BASE "train: {seed: -1}\n", "7:15: 'seed' must be a non-negative integer, got '-1'"},
    {BASE "train: {schedule: linear}\n", "7:19: 'schedule' must be one of cosine, constant, got 'linear'"},
    {BASE "train: {schedule: cosin}\n",
     "7:19: 'schedule' must be one of cosine, constant, got 'cosin' (did you mean 'cosine'?)"},
    {BASE "student: 0.5\n", "7:10: 'student' must be a mapping with keys " STUDENT_KEYS ", got '0.5'"},
    {BASE "student:\n", "7:9: 'student' must be a mapping with keys " STUDENT_KEYS ", got nothing"},
    {BASE "data2: 1\n", "7:1: unknown key 'data2' (did you mean 'data'?)"},
    {"kdc: 1\nteacher:\n", "2:9: 'teacher' must be a file path, got nothing"},
    {"kdc: 1\nteacher: teacher.onnx\ndata:\n  train: {format: csv}\n",
     "4:19: 'format' must be one of idx, npy, got 'csv'"},
    {BASE "data: 3\n", "7:1: duplicate key 'data' (first given at 3:1)"},
    {BASE "data:\n  normalize: {mean: {a: 1}}\n", "7:1: duplicate key 'data' (first given at 3:1)"},
    /* out of range */
    {BASE "train: {epochs: 0}\n", "7:17: 'epochs' must be >= 1, got 0"},
    {BASE "train: {batch_size: -5}\n", "7:21: 'batch_size' must be >= 1, got -5"},
    {BASE "train: {epochs: 99999999999}\n", "7:17: 'epochs' must be at most 2147483647, got 99999999999"},
    {BASE "train: {epochs: 99999999999999999999}\n",
     "7:17: 'epochs' must be at most 2147483647, got 99999999999999999999"},
    {BASE "train: {epochs: -99999999999999999999}\n", "7:17: 'epochs' must be >= 1, got -99999999999999999999"},
    {BASE "train: {lr: 0}\n", "7:13: 'lr' must be > 0, got 0"},
    {BASE "train: {momentum: 1}\n", "7:19: 'momentum' must be in [0, 1), got 1"},
    {BASE "train: {weight_decay: -0.1}\n", "7:23: 'weight_decay' must be >= 0, got -0.1"},
    {BASE "train: {seed: 18446744073709551616}\n",
     "7:15: 'seed' must be at most 18446744073709551615, got 18446744073709551616"},
    {BASE "student: {width: 0}\n", "7:18: 'width' must be in (0, 1], got 0"},
    {BASE "student: {width: 1.5}\n", "7:18: 'width' must be in (0, 1], got 1.5"},
    {BASE "distill: {temperature: 0}\n", "7:24: 'temperature' must be > 0, got 0"},
    {BASE "distill: {alpha: -0.1}\n", "7:18: 'alpha' must be in [0, 1], got -0.1"},
    /* student: unknown keys, numbers and choices */
    {BASE "student: {roundto: 8}\n", "7:11: unknown key 'roundto' in 'student' (did you mean 'round_to'?)"},
    {BASE "student: {calibration_sample: 8}\n",
     "7:11: unknown key 'calibration_sample' in 'student' (did you mean 'calibration_samples'?)"},
    {BASE "student: {free_output: [y]}\n",
     "7:11: unknown key 'free_output' in 'student' (did you mean 'free_outputs'?)"},
    {BASE "student: {dropp: [block1]}\n", "7:11: unknown key 'dropp' in 'student' (did you mean 'drop'?)"},
    {BASE "student: {shrink: 1}\n", "7:11: unknown key 'shrink' in 'student' (known keys: " STUDENT_KEYS ")"},
    {BASE "student: {depth: 0}\n", "7:18: 'depth' must be >= 1, got 0"},
    {BASE "student: {depth: 2, drop: [layer1.1]}\n", "7:27: 'drop' and 'depth' (7:18) both choose blocks; give one of them"},
    {BASE "student: {drop_alternate: yes}\n",
     "7:27: 'drop_alternate' must be one of false, true, got 'yes'"},
    {BASE "student: {drop: a, drop_alternate: true}\n",
     "7:36: 'drop_alternate' and 'drop' (7:17) both choose blocks; give one of them"},
    {BASE "student: {calibration_samples: 8}\n",
     "7:32: 'calibration_samples' is used by depth and by importance activation and taylor only; remove it, or use "
     "one of them"},
    {BASE "student: {init: zeros}\n", "7:17: 'init' must be one of teacher, random, got 'zeros'"},
    {BASE "student: {init: Random}\n",
     "7:17: 'init' must be one of teacher, random, got 'Random' (did you mean 'random'?)"},
    {BASE "student: {init: }\n", "7:17: 'init' must be one of teacher, random, got nothing"},
    {BASE "student: {params: 0}\n", "7:19: 'params' must be in (0, 1], got 0"},
    {BASE "student: {params: 1.01}\n", "7:19: 'params' must be in (0, 1], got 1.01"},
    {BASE "student: {params: quarter}\n", "7:19: 'params' must be a number, got 'quarter'"},
    {BASE "student: {macs: -0.5}\n", "7:17: 'macs' must be in (0, 1], got -0.5"},
    {BASE "student: {macs: [0.5]}\n", "7:17: 'macs' must be a number, got a list"},
    {BASE "student: {importance: tayler}\n",
     "7:23: 'importance' must be " IMPORTANCES ", got 'tayler' (did you mean 'taylor'?)"},
    {BASE "student: {importance: L1}\n", "7:23: 'importance' must be " IMPORTANCES ", got 'L1' (did you mean 'l1'?)"},
    {BASE "student: {importance: fisher}\n", "7:23: 'importance' must be " IMPORTANCES ", got 'fisher'"},
    {BASE "student: {importance: }\n", "7:23: 'importance' must be " IMPORTANCES ", got nothing"},
    {BASE "student: {round_to: -8}\n", "7:21: 'round_to' must be >= 0, got -8"},
    {BASE "student: {round_to: 8.5}\n", "7:21: 'round_to' must be an integer, got '8.5'"},
    {BASE "student: {seed: -1}\n", "7:17: 'seed' must be a non-negative integer, got '-1'"},
    {BASE "student: {importance: taylor, calibration_samples: 0}\n",
     "7:52: 'calibration_samples' must be >= 1, got 0"},
    {BASE "student: {importance: activation, calibration_samples: all}\n",
     "7:56: 'calibration_samples' must be an integer, got 'all'"},
    /* student: lists of names */
    {BASE "student: {protect: }\n", "7:20: 'protect' must be a name or a list of names, got nothing"},
    {BASE "student: {protect: {conv: 1}}\n", "7:20: 'protect' must be a name or a list of names, got a mapping"},
    {BASE "student: {protect: ''}\n", "7:20: 'protect' must be a name, got ''"},
    {BASE "student: {protect: [conv1, [a]]}\n", "7:28: 'protect' entries must be a name, got a list"},
    {BASE "student: {protect: [conv1, \"\"]}\n", "7:28: 'protect' entries must be a name, got ''"},
    {BASE "student:\n  protect:\n    - conv1\n    -\n", "10:6: 'protect' entries must be a name, got nothing"},
    {BASE "student: {protect: [\"a\\0b\"]}\n", "7:21: 'protect' entries must be a name, got 'a b'"},
    {BASE "student: {free_outputs: [logits, {a: 1}]}\n", "7:34: 'free_outputs' entries must be a name, got a mapping"},
    {BASE "student: {protect: [*conv]}\n", "7:21: YAML syntax error: found undefined alias" ALIAS_HINT},
    {BASE "student:\n  protect: *.weight\n",
     "8:13: YAML syntax error: did not find expected alphabetic or numeric character (while scanning an alias at "
     "8:12)" ALIAS_HINT},
    {BASE "student: {protect: [a], protect: [b]}\n",
     "7:25: duplicate key 'protect' in 'student' (first given at 7:11)"},
    /* student: glob widths */
    {BASE "student: {width_for: 0.5}\n",
     "7:22: 'width_for' must be a mapping of node-name globs to widths, e.g. {\"conv*\": 0.25}, got '0.5'"},
    {BASE "student: {width_for: [conv, 0.5]}\n",
     "7:22: 'width_for' must be a mapping of node-name globs to widths, e.g. {\"conv*\": 0.25}, got a list"},
    {BASE "student: {width_for: }\n",
     "7:22: 'width_for' must be a mapping of node-name globs to widths, e.g. {\"conv*\": 0.25}, got nothing"},
    {BASE "student: {width_for: {conv*: 0.5, fc: 0}}\n", "7:39: 'width_for' entry 'fc' must be in (0, 1], got 0"},
    {BASE "student: {width_for: {conv*: half}}\n", "7:30: 'width_for' entry 'conv*' must be a number, got 'half'"},
    {BASE "student: {width_for: {conv*: }}\n", "7:30: 'width_for' entry 'conv*' must be a number, got nothing"},
    {BASE "student: {width_for: {[a]: 0.5}}\n", "7:23: each 'width_for' key must be a name, got a list"},
    {BASE "student: {width_for: {'': 0.5}}\n", "7:23: each 'width_for' key must be a name, got ''"},
    {BASE "student:\n  width_for:\n    conv*: 0.5\n    fc: 0.5\n    conv*: 0.25\n",
     "11:5: duplicate glob 'conv*' in 'width_for' (first given at 9:5)"},
    /* student: keys that exclude each other; the message points at the later one */
    {BASE "student: {params: 0.5, macs: 0.25}\n",
     "7:30: 'macs' and 'params' (7:19) are both budgets; give one of them"},
    {BASE "student:\n  macs: 0.25\n  params: 0.5\n",
     "9:11: 'params' and 'macs' (8:9) are both budgets; give one of them"},
    {BASE "student: {width: 0.5, params: 0.25}\n",
     "7:31: 'params' and 'width' (7:18) both size the student; give a width or a budget, not both"},
    {BASE "student:\n  macs: 0.3\n  width: 1\n",
     "9:10: 'width' and 'macs' (8:9) both size the student; give a width or a budget, not both"},
    {BASE "student: {calibration_samples: 64}\n",
     "7:32: 'calibration_samples' is used by depth and by importance activation and taylor only; remove it, or use one "
     "of them"},
    {BASE "student: {importance: random, calibration_samples: 64}\n",
     "7:52: 'calibration_samples' is used by depth and by importance activation and taylor only; remove it, or use one "
     "of them"},
    /* normalize lists */
    {"kdc: 1\nteacher: teacher.onnx\ndata:\n  normalize: {scale: 0}\n", "4:22: 'scale' must be > 0, got 0"},
    {"kdc: 1\nteacher: teacher.onnx\ndata:\n  normalize: {mean: []}\n",
     "4:21: 'mean' must have 1 to 16 numbers, got 0"},
    {"kdc: 1\nteacher: teacher.onnx\ndata:\n  normalize: {mean: [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]}\n",
     "4:21: 'mean' must have 1 to 16 numbers, got 17"},
    {"kdc: 1\nteacher: teacher.onnx\ndata:\n  normalize: {std: [0.5, 0]}\n",
     "4:26: 'std' entries must be > 0, got 0"},
    {"kdc: 1\nteacher: teacher.onnx\ndata:\n  normalize: {std: 0}\n", "4:20: 'std' must be > 0, got 0"},
    {"kdc: 1\nteacher: teacher.onnx\ndata:\n  normalize: {mean: [a]}\n",
     "4:22: 'mean' entries must be a number, got 'a'"},
    {"kdc: 1\nteacher: teacher.onnx\ndata:\n  normalize: {mean: {a: 1}}\n",
     "4:21: 'mean' must be a number or a list of 1 to 16 numbers, got a mapping"},
    {"kdc: 1\nteacher: teacher.onnx\ndata:\n  normalize: {mean: [1, 2, 3], std: [1, 2]}\n"
     "  train: {format: idx, inputs: data/train-images.gz, labels: data/train-labels.gz}\n"
     "  test: {format: idx, inputs: data/test-images.gz, labels: data/test-labels.gz}\n"
     "output: out/s.onnx\n",
     "4:37: 'std' has 2 entries but 'mean' has 3; give one per channel, or one for all"},
    /* duplicates */
    {BASE "teacher: teacher.onnx\n", "7:1: duplicate key 'teacher' (first given at 2:1)"},
    {BASE "train: {epochs: 1, epochs: 2}\n", "7:20: duplicate key 'epochs' in 'train' (first given at 7:9)"},
    /* missing keys, at the enclosing mapping */
    {"kdc: 1\nstudent: {}\n", "1:1: missing required key 'teacher' or 'teachers' " TEACHER_HELP},
    {"# comment\n\nkdc: 1\nteacher: teacher.onnx\n",
     "3:1: missing required key 'data' (the train and test splits)"},
    {"kdc: 1\nteacher: teacher.onnx\ndata:\n  train: {format: idx, inputs: data/train-images.gz, labels: "
     "data/train-labels.gz}\n",
     "4:3: missing required key 'test' in 'data' (the test split, e.g. {format: idx, inputs: PATH, labels: PATH})"},
    {"kdc: 1\nteacher: teacher.onnx\ndata:\n  train: {format: idx, labels: data/train-labels.gz}\n",
     "4:10: missing required key 'inputs' in 'data.train' (the file of input examples)"},
    {"kdc: 1\nteacher: teacher.onnx\ndata:\n  train:\n    inputs: data/train-images.gz\n",
     "5:5: missing required key 'format' in 'data.train' (the file format: idx or npy)"},
    {"kdc: 1\nteacher: teacher.onnx\ndata:\n  train: {format: idx, inputs: data/train-images.gz, labels: "
     "data/train-labels.gz}\n  test: {format: idx, inputs: data/test-images.gz, labels: data/test-labels.gz}\n",
     "1:1: missing required key 'output' (the student .onnx file to write, or {path: PATH, fold_norm: B})"},
    /* files */
    {"kdc: 1\nteacher: nope.onnx\n",
     "2:10: cannot read 'teacher' file 'nope.onnx' (that is '$D/nope.onnx', relative to the recipe's folder): "
     "No such file or directory"},
    {"kdc: 1\nteacher: data\n",
     "2:10: cannot read 'teacher' file 'data' (that is '$D/data', relative to the recipe's folder): Is a directory"},
    {"kdc: 1\nteacher: teacher.onnx\ndata:\n  test: {format: idx, inputs: data/test-images.gz, labels: "
     "/nonexistent/l.gz}\n",
     "4:60: cannot read 'labels' file '/nonexistent/l.gz': No such file or directory"},
    {"kdc: 1\nteacher: teacher.onnx\noutput: nowhere/s.onnx\n",
     "3:9: output folder '$D/nowhere' does not exist; create it or choose another path"},
    {"kdc: 1\nteacher: teacher.onnx\noutput: out\n",
     "3:9: output path '$D/out' is a folder; name the .onnx file to write in it"},
    {"kdc: 1\nteacher: teacher.onnx\noutput: ~\n", "3:9: 'output' must be a file path, got nothing"},
    {"kdc: 1\nteacher: teacher.onnx\noutput: {fold_norm: false}\n",
     "3:9: missing required key 'path' in 'output' (the student .onnx file to write)"},
    {"kdc: 1\nteacher: teacher.onnx\noutput: {path: out/s.onnx, fold_norm: maybe}\n",
     "3:39: 'fold_norm' must be one of false, true, got 'maybe'"},
    {"kdc: 1\nteacher: teacher.onnx\noutput: {path: out/s.onnx, fold: true}\n",
     "3:28: unknown key 'fold' in 'output' (known keys: path, fold_norm)"},
    {"kdc: 1\nteacher: teacher.onnx\noutput: [out/s.onnx]\n",
     "3:9: 'output' must be a path or a mapping with keys path, fold_norm, got a list"},
    {BASE "student: {train_norm: layernorm}\n",
     "7:23: 'train_norm' must be one of auto, batchnorm, none, got 'layernorm'"},
    {BASE "student: {train_norm_dense: 1}\n", "7:29: 'train_norm_dense' must be one of false, true, got '1'"},
    /* version */
    {"kdc: 2\nteacher: teacher.onnx\n", "1:6: unsupported recipe version 2; this kdc reads version 1"},
    {"teacher: teacher.onnx\nkdc: 0\n", "2:6: unsupported recipe version 0; this kdc reads version 1"},
    {"kdc: one\n", "1:6: 'kdc' must be an integer (the recipe schema version), got 'one'"},
    {"kdc: 1.0\n", "1:6: 'kdc' must be an integer (the recipe schema version), got '1.0'"},
    {"teacher: teacher.onnx\n", "1:1: missing required key 'kdc' (the recipe schema version; write 'kdc: 1' first)"},
    {"kdc: 1\nkdc: 1\n", "2:1: duplicate key 'kdc' (first given at 1:1)"},
    /* teachers */
    {BASE "teachers: [{model: teacher.onnx}]\n", "7:1: 'teachers' and 'teacher' (2:1) are alternatives; give one of them"},
    {BASE_NO_TEACHER "teachers:\n  - model: teacher.onnx\nteacher: teacher.onnx\n",
     "8:1: 'teacher' and 'teachers' (6:1) are alternatives; give one of them"},
    {BASE_NO_TEACHER "student: {}\n", "1:1: missing required key 'teacher' or 'teachers' " TEACHER_HELP},
    {BASE_NO_TEACHER "teachers: []\n", "6:11: 'teachers' must have 1 to 8 entries, got 0"},
    {BASE_NO_TEACHER "teachers: [{model: teacher.onnx}, {model: teacher.onnx}, {model: teacher.onnx}, "
                     "{model: teacher.onnx}, {model: teacher.onnx}, {model: teacher.onnx}, {model: teacher.onnx}, "
                     "{model: teacher.onnx}, {model: teacher.onnx}]\n",
     "6:11: 'teachers' must have 1 to 8 entries, got 9"},
    {BASE_NO_TEACHER "teachers: teacher.onnx\n",
     "6:11: 'teachers' must be a list of 1 to 8 mappings with keys model, weight, got 'teacher.onnx'"},
    {BASE_NO_TEACHER "teachers: [teacher.onnx]\n",
     "6:12: 'teachers' entries must be mappings with keys model, weight, got 'teacher.onnx'"},
    {BASE_NO_TEACHER "teachers:\n  - weight: 2\n",
     "7:5: missing required key 'model' in 'teachers' (the teacher .onnx model)"},
    {BASE_NO_TEACHER "teachers: [{model: teacher.onnx, weight: 0}]\n", "6:42: 'weight' must be > 0, got 0"},
    {BASE_NO_TEACHER "teachers: [{model: teacher.onnx}, {model: nope.onnx}]\n",
     "6:43: cannot read 'model' file 'nope.onnx' (that is '$D/nope.onnx', relative to the recipe's folder): "
     "No such file or directory"},
    {BASE_NO_TEACHER "teachers: [{modle: teacher.onnx}]\n",
     "6:13: unknown key 'modle' in 'teachers' (did you mean 'model'?)"},
    /* data.augment */
    {BASE "data:\n", "7:1: duplicate key 'data' (first given at 3:1)"},
    {"kdc: 1\nteacher: teacher.onnx\ndata:\n  augment: {crop_padding: -1}\n",
     "4:27: 'crop_padding' must be >= 0, got -1"},
    {"kdc: 1\nteacher: teacher.onnx\ndata:\n  augment: {flip: yes}\n",
     "4:19: 'flip' must be one of false, true, got 'yes'"},
    {"kdc: 1\nteacher: teacher.onnx\ndata:\n  augment: {mixup: -0.5}\n", "4:20: 'mixup' must be >= 0, got -0.5"},
    {"kdc: 1\nteacher: teacher.onnx\ndata:\n  augment: {crop: 4}\n",
     "4:13: unknown key 'crop' in 'data.augment' (known keys: crop_padding, flip, mixup)"},
    /* distill.losses: the list and its entries */
    {BASE "distill: {losses: []}\n", "7:19: 'losses' must have 1 to 16 entries, got 0"},
    {BASE "distill: {losses: [{kind: kd}, {kind: kd}, {kind: kd}, {kind: kd}, {kind: kd}, {kind: kd}, {kind: kd}, "
          "{kind: kd}, {kind: kd}, {kind: kd}, {kind: kd}, {kind: kd}, {kind: kd}, {kind: kd}, {kind: kd}, {kind: kd}, "
          "{kind: kd}]}\n",
     "7:19: 'losses' must have 1 to 16 entries, got 17"},
    {BASE "distill: {losses: kd}\n",
     "7:19: 'losses' must be a list of 1 to 16 mappings with keys " LOSS_KEYS ", got 'kd'"},
    {BASE "distill: {losses: [kd, ce]}\n",
     "7:20: 'losses' entries must be mappings with keys " LOSS_KEYS ", got 'kd'"},
    {BASE "distill:\n  losses:\n    - weight: 1\n",
     "9:7: missing required key 'kind' in 'distill.losses' (what the loss compares: kd, ce, hint, attention, "
     "similarity, relation, contrastive, pkt or correlation)"},
    {BASE "distill: {losses: [{kind: fitnet}]}\n", "7:27: 'kind' must be " LOSS_KIND_WORDS ", got 'fitnet'"},
    {BASE "distill: {losses: [{kind: hnt}]}\n",
     "7:27: 'kind' must be " LOSS_KIND_WORDS ", got 'hnt' (did you mean 'hint'?)"},
    {BASE "distill: {losses: [{kind: kd, kind: ce}]}\n",
     "7:31: duplicate key 'kind' in 'distill.losses' (first given at 7:21)"},
    {BASE "distill: {losses: [{kind: kd, temprature: 2}]}\n",
     "7:31: unknown key 'temprature' in 'distill.losses' (did you mean 'temperature'?)"},
    {BASE "distill: {losses: [{kind: kd, weight: -1}]}\n", "7:39: 'weight' must be >= 0, got -1"},
    {BASE "distill: {losses: [{kind: kd, teacher: 0}]}\n", "7:40: 'teacher' must be >= 1, got 0"},
    {BASE "distill: {losses: [{kind: ce}, {kind: kd, teacher: 2}]}\n",
     "7:52: 'teacher' must be at most 1, the number of teachers, got 2"},
    {BASE "distill: {losses: [{kind: kd, temperature: 0}]}\n", "7:44: 'temperature' must be > 0, got 0"},
    {BASE "distill: {losses: [{kind: ce, smoothing: 1}]}\n", "7:42: 'smoothing' must be in [0, 1), got 1"},
    {BASE "distill: {losses: [{kind: attention, p: 0}]}\n", "7:41: 'p' must be > 0, got 0"},
    {BASE "distill: {losses: [{kind: relation, distance_weight: -1}]}\n",
     "7:54: 'distance_weight' must be >= 0, got -1"},
    {BASE "distill: {losses: [{kind: relation, angle_weight: x}]}\n", "7:51: 'angle_weight' must be a number, got 'x'"},
    {BASE "distill: {losses: [{kind: contrastive, feat_dim: 0}]}\n", "7:50: 'feat_dim' must be >= 1, got 0"},
    {BASE "distill: {losses: [{kind: contrastive, negatives: 0}]}\n", "7:51: 'negatives' must be >= 1, got 0"},
    {BASE "distill: {losses: [{kind: contrastive, nce_temperature: 0}]}\n",
     "7:57: 'nce_temperature' must be > 0, got 0"},
    {BASE "distill: {losses: [{kind: contrastive, momentum: 1}]}\n", "7:50: 'momentum' must be in [0, 1), got 1"},
    /* distill.losses: keys of other kinds */
    {BASE "distill: {losses: [{kind: kd, smoothing: 0.1}]}\n",
     "7:31: key 'smoothing' does not apply to a loss of kind kd (it is an option of ce)"},
    {BASE "distill: {losses: [{pairs: auto, kind: ce}]}\n",
     "7:21: key 'pairs' does not apply to a loss of kind ce (it is an option of " FEATURE_KIND_WORDS ")"},
    {BASE "distill:\n  losses:\n    - kind: hint\n      p: 4\n",
     "10:7: key 'p' does not apply to a loss of kind hint (it is an option of attention)"},
    {BASE "distill: {losses: [{kind: ce, temperature: 2}]}\n",
     "7:31: key 'temperature' does not apply to a loss of kind ce (it is an option of kd)"},
    {BASE "distill: {losses: [{kind: pkt, momentum: 0.5}]}\n",
     "7:32: key 'momentum' does not apply to a loss of kind pkt (it is an option of contrastive)"},
    {BASE "distill: {losses: [{kind: attention, angle_weight: 1}]}\n",
     "7:38: key 'angle_weight' does not apply to a loss of kind attention (it is an option of relation)"},
    /* distill.losses: pairs */
    {BASE "distill: {losses: [{kind: hint, pairs: []}]}\n", "7:40: 'pairs' must have 1 to 8 entries, got 0"},
    {BASE "distill: {losses: [{kind: hint, pairs: manual}]}\n",
     "7:40: 'pairs' must be auto or a list of 1 to 8 mappings with keys teacher, student, got 'manual'"},
    {BASE "distill: {losses: [{kind: hint, pairs: [relu1]}]}\n",
     "7:41: 'pairs' entries must be mappings with keys teacher, student, got 'relu1'"},
    {BASE "distill: {losses: [{kind: hint, pairs: [{teacher: a}]}]}\n",
     "7:41: missing required key 'student' in 'distill.losses.pairs' (the student's value that imitates it)"},
    {BASE "distill: {losses: [{kind: hint, pairs: [{teacher: '', student: b}]}]}\n",
     "7:51: 'teacher' must be a name, got ''"},
    {BASE "distill: {losses: [{kind: hint, pairs: [{teacher: a, student: [b]}]}]}\n",
     "7:63: 'student' must be a name, got a list"},
    {BASE "distill: {losses: [{kind: hint, pairs: [{teacher: a, student: b, studnet: c}]}]}\n",
     "7:66: unknown key 'studnet' in 'distill.losses.pairs' (did you mean 'student'?)"},
    /* distill.losses with alpha; weights */
    {BASE "distill:\n  alpha: 0.5\n  losses: [{kind: kd}]\n", "8:10: " ALPHA_LOSSES},
    {BASE "distill:\n  losses: [{kind: kd}]\n  alpha: 0.5\n", "9:10: " ALPHA_LOSSES},
    {BASE "distill:\n  losses: [{kind: kd, weight: 0}, {kind: ce, weight: 0}]\n",
     "8:11: every loss in 'losses' has weight 0; give at least one a weight > 0"},
    /* distill.teacher_mix, stages, cache_teacher */
    {BASE "distill: {teacher_mix: mean}\n", "7:24: 'teacher_mix' must be one of average, separate, got 'mean'"},
    {BASE "distill: {stages: [{stage: hint, epochs: 1}]}\n", "7:20: " HINT_STAGE},
    {BASE "distill:\n  losses: [{kind: kd}, {kind: attention}]\n  stages:\n    - {stage: hint, epochs: 2}\n",
     "10:7: " HINT_STAGE},
    {BASE "distill:\n  losses: [{kind: kd}, {kind: hint, weight: 0}]\n  stages:\n    - {stage: hint, epochs: 2}\n",
     "10:7: " HINT_STAGE},
    {BASE "distill: {stages: [{stage: hint}]}\n",
     "7:20: missing required key 'epochs' in 'distill.stages' (passes over the training split in this stage)"},
    {BASE "distill: {stages: [{epochs: 1}]}\n",
     "7:20: missing required key 'stage' in 'distill.stages' (what the stage trains: hint)"},
    {BASE "distill: {stages: [{stage: hint, epochs: 0}]}\n", "7:42: 'epochs' must be >= 1, got 0"},
    {BASE "distill: {stages: [{stage: warmup, epochs: 1}]}\n", "7:28: 'stage' must be one of hint, got 'warmup'"},
    {BASE "distill: {stages: [{stage: hint, epochs: 1}, {stage: hint, epochs: 1}, {stage: hint, epochs: 1}, "
          "{stage: hint, epochs: 1}, {stage: hint, epochs: 1}]}\n",
     "7:19: 'stages' must have 1 to 4 entries, got 5"},
    {BASE "distill: {cache_teacher: maybe}\n", "7:26: 'cache_teacher' must be one of auto, true, false, got 'maybe'"},
    {BASE "distill: {cache_teacher: true}\ndata:\n", "8:1: duplicate key 'data' (first given at 3:1)"},
    {"kdc: 1\nteacher: teacher.onnx\noutput: out/student.onnx\ndata:\n  augment: {flip: true}\n" SPLITS
     "distill: {cache_teacher: true}\n",
     "8:26: " CACHE_AUGMENT},
    {"kdc: 1\nteacher: teacher.onnx\noutput: out/student.onnx\ndistill:\n  cache_teacher: true\ndata:\n"
     "  augment: {crop_padding: 2}\n" SPLITS,
     "5:18: " CACHE_AUGMENT},
    {"kdc: 1\nteacher: teacher.onnx\noutput: out/student.onnx\ndistill:\n  cache_teacher: true\ndata:\n"
     "  augment: {mixup: 0.4, crop_padding: 0, flip: false}\n" SPLITS,
     "5:18: " CACHE_AUGMENT},
    {BASE "distill: {cache_teacher: true, online: {}}\n",
     "7:26: cache_teacher: true cannot be used with online: the teacher changes as it trains"},
    /* distill.online */
    {BASE "distill: {online: true}\n",
     "7:19: 'online' must be a mapping with keys lr, momentum, weight_decay, output, got 'true'"},
    {BASE "distill: {online: {lr: 0}}\n", "7:24: 'lr' must be > 0, got 0"},
    {BASE "distill: {online: {momentum: 1}}\n", "7:30: 'momentum' must be in [0, 1), got 1"},
    {BASE "distill: {online: {weight_decay: -1}}\n", "7:34: 'weight_decay' must be >= 0, got -1"},
    {BASE "distill: {online: {output: nowhere/t.onnx}}\n",
     "7:28: output folder '$D/nowhere' does not exist; create it or choose another path"},
    {BASE "distill: {online: {epochs: 2}}\n",
     "7:20: unknown key 'epochs' in 'distill.online' (known keys: lr, momentum, weight_decay, output)"},
    {BASE_NO_TEACHER "teachers: [{model: teacher.onnx}, {model: teacher_b.onnx}]\ndistill:\n  online: {}\n",
     "8:11: online distillation trains one teacher with the student; 'teachers' (6:11) names 2"},
    {BASE "distill:\n  online: {}\n  losses:\n    - {kind: kd}\n    - {kind: hint}\n", "11:7: " ONLINE_KIND " 'hint' "
     "is not supported with it"},
    {BASE "distill:\n  losses: [{kind: ce}, {kind: relation}]\n  online: {lr: 0.1}\n",
     "8:24: " ONLINE_KIND " 'relation' is not supported with it"},
    {BASE "distill:\n  online: {}\n  stages: [{stage: hint, epochs: 1}]\n",
     "9:11: 'stages' and 'online' (8:11) cannot be combined: online distillation has no stages"},
    /* document shape and YAML syntax */
    {"", "1:1: the recipe is empty; it needs at least 'kdc: 1', 'teacher', 'data' and 'output'"},
    {"# nothing but a comment\n",
     "1:1: the recipe is empty; it needs at least 'kdc: 1', 'teacher', 'data' and 'output'"},
    {"- kdc: 1\n", "1:1: a recipe must be a mapping of keys (kdc, teacher, data, ...), got a list"},
    {"hello\n", "1:1: a recipe must be a mapping of keys (kdc, teacher, data, ...), got 'hello'"},
    {BASE "---\nkdc: 1\n", "8:1: a recipe is one YAML document; remove the '---' and what follows it"},
    {"kdc: 1\n\tteacher: x\n",
     "2:1: YAML syntax error: found a tab character that violates indentation (while scanning a plain scalar at "
     "1:6); indent with spaces, not tabs"},
    {"kdc: 1\nstudent: {width: 0.5\n",
     "3:1: YAML syntax error: did not find expected ',' or '}' (while parsing a flow mapping at 2:10)"},
    {"kdc: 1\n  teacher: x\n",
     "2:10: YAML syntax error: mapping values are not allowed in this context; check the indentation, and quote "
     "values that contain ': '"},
    {"kdc: 1\nteacher: *t\n", "2:10: YAML syntax error: found undefined alias" ALIAS_HINT},
    {"kdc: 1\nteacher: \"x\xff\"\n", "2:12: not UTF-8 text: invalid leading UTF-8 octet (byte 0xff)"},
};

/* want with "$D" replaced by the temporary folder, after "PATH:". */
static void expected_message(const Fixture *fx, const char *want, char *out, size_t size)
{
    size_t used = (size_t)snprintf(out, size, "%s:", fx->recipe);
    for (const char *p = want; *p && used + 1 < size; p++) {
        if (p[0] == '$' && p[1] == 'D') {
            used += (size_t)snprintf(out + used, size - used, "%s", fx->dir);
            p++;
        } else {
            out[used++] = *p;
            out[used] = '\0';
        }
    }
}

static void test_bad_recipes(void **state)
{
    Fixture *fx = *state;
    int failures = 0;
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        Recipe r;
        Diag d = {""};
        char want[1024];
        expected_message(fx, BAD[i].want, want, sizeof want);
        Status st = load_text(fx, BAD[i].text, &r, &d);
        if (st == KDC_OK || strcmp(d.msg, want)) {
            print_error("case %zu:\n  text: %s\n  want: %s\n  got:  %s\n", i, BAD[i].text, want,
                        st == KDC_OK ? "(loaded)" : d.msg);
            failures++;
        }
        /* A failed load leaves nothing to free. */
        assert_null(r.path);
        assert_null(r.teacher);
        recipe_free(&r);
    }
    assert_int_equal(failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unreadable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_recipes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
