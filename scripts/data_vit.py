"""Topic `vit`: a tiny vision transformer and an op-coverage model for the transformer ops (issue 14).

- `vit_ptq_int8`: patch convolution (7x7, stride 7: 16 patches of 16 channels), a learned position
  embedding, two blocks of LayerNormalization + MultiHeadAttention (2 heads, key_dim 8) + GELU MLP
  with residual adds, a final LayerNormalization, global average pooling, Dense(10), Softmax.
  Trained briefly on the 4000 training digits, full-integer PTQ with int8 I/O. Whatever the
  converter cannot quantize stays float between DEQUANTIZE and QUANTIZE (a float island).
- `tops_ptq_int8` and `tops_float32`: the transformer ops the ViT does not emit (SPLIT, SPLIT_V,
  DIV, LOG, EXP, SUM, REDUCE_*, ARG_*, L2_NORMALIZATION, LOG_SOFTMAX, SELECT_V2, comparisons,
  CAST, GATHER, ...), untrained (random Dense weights), int8 (float islands allowed) and float32.

Run: python scripts/make_data.py --only vit
"""
import numpy as np
import tensorflow as tf
import keras

VIT_SEED = 140
VIT_EPOCHS = 4
VIT_N_GOLDEN = 24
TOPS_N_GOLDEN = 60

VIT_ARCH = (
    "Input(28,28,1) -> Conv2D(16,7,stride 7) -> Reshape(16,16) -> + position embedding(16,16); "
    "2 x [LayerNormalization -> MultiHeadAttention(2 heads, key_dim 8) -> Add; LayerNormalization -> "
    "Dense(32, gelu) -> Dense(16) -> Add] -> LayerNormalization -> GlobalAveragePooling1D -> Dense(10) "
    "-> Softmax")

TOPS_ARCH = (
    "Input(28,28,1) -> AveragePool(4) -> Reshape(7,7) -> Dense(12) = d; SPLIT(d, 3), SPLIT_V(d, [5,7]); "
    "MAXIMUM, MINIMUM, NEG, ABS, SQUARED_DIFFERENCE, EXP, LOG, SQRT, RSQRT, DIV, SUM, REDUCE_MAX, "
    "REDUCE_MIN, REDUCE_PROD, ARG_MAX, ARG_MIN, CAST, L2_NORMALIZATION, LOG_SOFTMAX, comparisons, "
    "SELECT_V2, GATHER, TRANSPOSE, SLICE, EXPAND_DIMS, SQUEEZE, BATCH_MATMUL (adjoint), tanh GELU; "
    "everything flattened, concatenated -> Dense(10)")


class PositionEmbedding(keras.layers.Layer):
    def build(self, input_shape):
        self.pos = self.add_weight(shape=tuple(input_shape[1:]), initializer="random_normal", name="pos")

    def call(self, x):
        return x + self.pos


def build_vit():
    L = keras.layers
    i = keras.Input((28, 28, 1), name="image")
    x = L.Conv2D(16, 7, strides=7, name="patch")(i)
    x = L.Reshape((16, 16), name="tokens")(x)
    x = PositionEmbedding(name="position")(x)
    for b in range(2):
        h = L.LayerNormalization(epsilon=1e-6, name="ln%da" % b)(x)
        h = L.MultiHeadAttention(num_heads=2, key_dim=8, name="mha%d" % b)(h, h)
        x = L.Add(name="res%da" % b)([x, h])
        h = L.LayerNormalization(epsilon=1e-6, name="ln%db" % b)(x)
        h = L.Dense(32, activation="gelu", name="mlp%da" % b)(h)
        h = L.Dense(16, name="mlp%db" % b)(h)
        x = L.Add(name="res%db" % b)([x, h])
    x = L.LayerNormalization(epsilon=1e-6, name="ln_out")(x)
    x = L.GlobalAveragePooling1D(name="gap")(x)
    x = L.Dense(10, name="fc")(x)
    return keras.Model(i, L.Softmax(name="softmax")(x), name="vit")


def tops_graph(x, dense_w, dense_b):
    """The op-coverage graph on a batch of 28x28x1 images (pure tf ops, so each maps to one builtin)."""
    p = tf.nn.avg_pool2d(x, 4, 4, "VALID")
    p = tf.reshape(p, [-1, 7, 7])
    d = tf.matmul(p, dense_w) + dense_b                      # 1x7x12
    a, b, c = tf.split(d, 3, axis=-1)                        # SPLIT
    s5, s7 = tf.split(d, [5, 7], axis=-1)                    # SPLIT_V
    mx = tf.maximum(a, b)
    mn = tf.minimum(a, c)
    ng = tf.negative(c)
    ab = tf.abs(b)
    sd = tf.math.squared_difference(a, c)
    ex = tf.exp(mn)
    lg = tf.math.log(ab + 0.5)
    sq = tf.sqrt(ab)
    rs = tf.math.rsqrt(ab + 0.25)
    dv = mx / (ab + 1.0)
    sm = tf.reduce_sum(s5, axis=1)                           # 1x5
    rmx = tf.reduce_max(s7, axis=2)                          # 1x7
    rmn = tf.reduce_min(s7, axis=1)                          # 1x7
    rpd = tf.reduce_prod(tf.sigmoid(s5), axis=2)             # 1x7
    am = tf.argmax(d, axis=-1, output_type=tf.int32)         # 1x7
    an = tf.argmin(d, axis=1, output_type=tf.int32)          # 1x12
    cam = tf.cast(am, tf.float32)
    can = tf.cast(an, tf.float32)
    l2 = tf.math.l2_normalize(s7, axis=-1)
    ls = tf.nn.log_softmax(s5, axis=-1)
    lt = tf.less(a, b)
    le = tf.less_equal(a, c)
    gt = tf.greater(b, c)
    ge = tf.greater_equal(mx, b)
    eq = tf.equal(am[:, :, None], 3)
    ne = tf.not_equal(an, 0)
    sel = tf.where(lt, a, b)                                 # SELECT_V2
    sel2 = tf.where(gt, ng, ab)
    m = tf.logical_or(tf.logical_and(le, ge), eq)
    sel3 = tf.where(m, sd, ex)
    sel4 = tf.where(eq, a, c)                                # SELECT_V2 (broadcast condition)
    g = tf.gather(d, [0, 2, 4, 6], axis=1)                   # 1x4x12
    tr = tf.transpose(g, [0, 2, 1])                          # 1x12x4
    sl = tf.slice(d, [0, 1, 2], [1, 3, 4])                   # 1x3x4
    bm = tf.matmul(sl, a[:, :3, :], adjoint_a=True)          # 1x4x4
    bm2 = tf.matmul(tr, tr, adjoint_b=True)                  # 1x12x12
    ed = tf.expand_dims(sm, 1)                               # 1x1x5
    sz = tf.squeeze(ed, axis=1)                              # 1x5
    ge_ = tf.nn.gelu(d, approximate=True)
    pieces = [mx, mn, ng, ab, sd, ex, lg, sq, rs, dv, sm, rmx, rmn, rpd, cam, can, l2, ls,
              sel, sel2, sel3, sel4, tf.cast(ne, tf.float32), tr, sl, bm, bm2, sz, ge_]
    flat = tf.concat([tf.reshape(t, [-1, int(np.prod(t.shape[1:]))]) for t in pieces], axis=1)
    return flat


def convert_tops(x_rep, dtype):
    rng = np.random.default_rng(VIT_SEED + 1)
    w = tf.constant(rng.normal(0, 0.6, (7, 12)).astype(np.float32))
    bias = tf.constant(rng.normal(0, 0.2, (12,)).astype(np.float32))
    n_flat = int(tops_graph(tf.zeros([1, 28, 28, 1]), w, bias).shape[1])
    w2 = tf.constant(rng.normal(0, 0.1, (n_flat, 10)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec([1, 28, 28, 1], tf.float32, name="image")])
    def serve(x):
        return tf.matmul(tops_graph(x, w, bias), w2)

    return convert(serve, x_rep if dtype == "int8" else None)


def convert(serve, x_rep):
    """float32 (x_rep None), or full-integer PTQ with int8 I/O where ops without an int8 kernel
    stay float between DEQUANTIZE and QUANTIZE (TFLITE_BUILTINS allowed beside the int8 set)."""
    conv = tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()])
    if x_rep is None:
        return conv.convert()
    conv.optimizations = [tf.lite.Optimize.DEFAULT]

    def rep():
        for img in x_rep:
            yield [img.reshape(1, 28, 28, 1).astype(np.float32)]

    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return conv.convert()


def convert_vit(model, x_rep):
    @tf.function(input_signature=[tf.TensorSpec([1, 28, 28, 1], tf.float32, name="image")])
    def serve(x):
        return model(x, training=False)

    return convert(serve, x_rep)


def make(out, split, md):
    (out / "models" / "probe").mkdir(parents=True, exist_ok=True)
    xf_tr = (split.x_tr.astype(np.float32) / 255.0).reshape(-1, 28, 28, 1)
    xf_te = (split.x_te.astype(np.float32) / 255.0).reshape(-1, 28, 28, 1)
    rep = xf_tr[:md.N_REPRESENTATIVE]
    model = md.train_conv(build_vit, VIT_EPOCHS, VIT_SEED, xf_tr, split.y_tr)
    keras_acc = float(np.mean(np.argmax(model.predict(xf_te, verbose=0), 1) == split.y_te))
    md.log("vit: keras held-out accuracy %.4f" % keras_acc)
    flats = {"vit_ptq_int8": convert_vit(model, rep),
             "tops_ptq_int8": convert_tops(rep, "int8"),
             "tops_float32": convert_tops(rep, "float32")}
    desc = {"vit_ptq_int8": "tiny ViT, full-integer PTQ, int8 I/O: " + VIT_ARCH,
            "tops_ptq_int8": "transformer op coverage, PTQ int8 (float islands allowed): " + TOPS_ARCH,
            "tops_float32": "transformer op coverage, float32: " + TOPS_ARCH}
    entries = {}
    for stem, flat in flats.items():
        (out / "models" / (stem + ".tflite")).write_bytes(flat)
        n = VIT_N_GOLDEN if stem.startswith("vit") else TOPS_N_GOLDEN
        e = md.golden_entry(out, stem, desc[stem], split.x_te, split.y_te, n_images=n)
        e["op_kinds"] = sorted({o["op"] for o in e["ops"]})
        e["runtimes_that_ran"] = sorted(e["goldens"], key=md.gl.RUNTIMES.index)
        e["golden_images"] = n
        entries[stem] = e
    training = {"vit": {"architecture": VIT_ARCH, "epochs": VIT_EPOCHS, "batch_size": md.BATCH,
                        "optimizer": "adam(1e-3)", "seed": VIT_SEED, "input_scaling": "pixel / 255.0",
                        "keras_heldout_accuracy": keras_acc,
                        "representative_dataset": "first %d training images" % md.N_REPRESENTATIVE}}
    return {"models": entries, "training": training}
