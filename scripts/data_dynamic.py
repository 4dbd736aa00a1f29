"""Topic `dynamic`: dynamic-range ("hybrid") models (issue 11, part 2).

`converter.optimizations = [tf.lite.Optimize.DEFAULT]` without a representative dataset stores
the weights of large layers as int8 (per-channel scales, or one per-tensor scale) and keeps every
activation float32. At run time FULLY_CONNECTED, CONV_2D and DEPTHWISE_CONV_2D quantize their
float input on the fly (S1 computed from the values of each batch row), multiply in integers and
scale back to float. The converter leaves a weight tensor in float when it has fewer than 1024
elements, so every layer of the CNN here is built large enough to be quantized.

- mlp_dynamic: the project's Keras MLP (md.build_model) with the weights of the committed
  mlp_float32.tflite (read back, checked to convert to the same bytes), per-channel int8
  weights for fc1 and fc2; fc3 (100x10 = 1000 weights) stays float32.
- cnn_dynamic: a CNN whose every layer is hybrid: CONV_2D (48 5x5 filters, stride 2) ->
  DEPTHWISE_CONV_2D (5x5, stride 2) -> CONV_2D (32 3x3, relu6) -> RESHAPE (7 rows of 224) ->
  FULLY_CONNECTED applied to each of the 7 rows (7 batch rows: one S1 per row) ->
  RESHAPE -> FULLY_CONNECTED -> SOFTMAX; per-channel int8 weights.
- cnn_dynamic_per_tensor: the same CNN without the depthwise layer (second convolution with
  stride 2 instead), one weight scale per tensor (converter._experimental_disable_per_channel),
  which LiteRT runs with its other hybrid convolution kernel (symmetric input quantization).
  The depthwise layer is left out because LiteRT's hybrid DEPTHWISE_CONV_2D only has a
  per-channel kernel: with a per-tensor weight scale it reads scale[c] past the single stored
  scale, and two runs of the same image give different outputs (seen with ai-edge-litert 2.3.0:
  101 of the 23 520 depthwise outputs of 10 images differ between two BUILTIN_REF runs, 10 061 under the
  optimized kernels). quantlens refuses such an operator instead.
- cnn_dynamic_symmetric_fc: cnn_dynamic with `asymmetric_quantize_inputs = false` written into
  its two FULLY_CONNECTED ops (older converters wrote such files): LiteRT then quantizes their
  inputs symmetrically (Z1 = 0).
"""
import numpy as np
import tensorflow as tf
import keras
from tensorflow.lite.python import schema_py_generated as schema
from tensorflow.lite.tools import flatbuffer_utils


MLP_IMAGES = 100
CNN_IMAGES = 16
CNN_EPOCHS = 3
SYMMETRIC_IMAGES = 8


def build_cnn(depthwise=True):
    L = keras.layers
    i = keras.Input((28, 28, 1), name="image")
    x = L.Conv2D(48, 5, strides=2, padding="same", activation="relu", name="conv1")(i)
    if depthwise:
        x = L.DepthwiseConv2D(5, strides=2, padding="same", activation="relu", name="dw1")(x)
        x = L.Conv2D(32, 3, padding="same", activation="relu6", name="conv2")(x)
    else:
        x = L.Conv2D(32, 3, strides=2, padding="same", activation="relu6", name="conv2")(x)
    x = L.Reshape((7, 7 * 32), name="rows")(x)
    x = L.Dense(16, activation="relu", name="row_fc")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(10, name="fc")(x)
    return keras.Model(i, L.Softmax(name="softmax")(x), name="cnn_dynamic" if depthwise else "cnn_dynamic_nodw")


def convert_dynamic(model, shape, name, per_tensor=False):
    @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32, name=name)])
    def serve(x):
        return model(x, training=False)

    conv = tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()])
    conv.optimizations = [tf.lite.Optimize.DEFAULT]  # and no representative dataset
    if per_tensor:
        conv._experimental_disable_per_channel = True
    return conv.convert()


def make(out, split, md):
    models = {}
    # The MLP of the base set, weights read back from the committed float model,
    # so that mlp_dynamic is the same Keras model as mlp_float32 / mlp_ptq_* in
    # another mode (retraining gives other weights on another machine).
    mlp = md.base_mlp(out)
    (out / "models" / "mlp_dynamic.tflite").write_bytes(convert_dynamic(mlp, [1, 784], "pixels"))
    models["mlp_dynamic"] = md.golden_entry(
        out, "mlp_dynamic",
        "dynamic range (Optimize.DEFAULT, no representative dataset): the project's MLP, "
        "per-channel int8 weights for fc1 and fc2, fc3 (1000 weights) kept float32",
        split.x_te, split.y_te, n_images=MLP_IMAGES,
        extra={"weights_of": "models/mlp_float32.tflite (the same Keras model as mlp_ptq_*)"})

    xf_tr = (split.x_tr.astype(np.float32) / 255.0).reshape(-1, 28, 28, 1)
    for stem, per_tensor in (("cnn_dynamic", False), ("cnn_dynamic_per_tensor", True)):
        cnn = md.train_conv(lambda: build_cnn(depthwise=not per_tensor), CNN_EPOCHS, md.SEED, xf_tr, split.y_tr)
        (out / "models" / (stem + ".tflite")).write_bytes(
            convert_dynamic(cnn, [1, 28, 28, 1], "image", per_tensor))
        kinds = "CONV_2D, DEPTHWISE_CONV_2D" if not per_tensor else "CONV_2D, CONV_2D (stride 2)"
        models[stem] = md.golden_entry(
            out, stem,
            "dynamic range CNN, %s int8 weights: hybrid %s, FULLY_CONNECTED over 7 rows "
            "(one S1 per row), FULLY_CONNECTED" % ("per-tensor" if per_tensor else "per-channel", kinds),
            split.x_te, split.y_te, n_images=CNN_IMAGES)
    # The converter always sets asymmetric_quantize_inputs; older converters did not, and LiteRT
    # then quantizes the FULLY_CONNECTED input symmetrically (Z1 = 0, S1 = max|x| / 127).
    stem = "cnn_dynamic_symmetric_fc"
    m = flatbuffer_utils.read_model(str(out / "models" / "cnn_dynamic.tflite"))
    fc_code = [i for i, c in enumerate(m.operatorCodes)
               if max(c.builtinCode, c.deprecatedBuiltinCode) == schema.BuiltinOperator.FULLY_CONNECTED]
    flipped = 0
    for op in m.subgraphs[0].operators:
        if op.opcodeIndex in fc_code:
            op.builtinOptions.asymmetricQuantizeInputs = False
            flipped += 1
    assert flipped == 2, flipped
    flatbuffer_utils.write_model(m, str(out / "models" / (stem + ".tflite")))
    models[stem] = md.golden_entry(
        out, stem,
        "cnn_dynamic with asymmetric_quantize_inputs = false on both FULLY_CONNECTED ops (set in the "
        "flatbuffer): symmetric run-time quantization of the FULLY_CONNECTED inputs",
        split.x_te, split.y_te, n_images=SYMMETRIC_IMAGES)
    return {"models": models,
            "cnn_training": {"epochs": CNN_EPOCHS, "seed": md.SEED, "architecture": "scripts/data_dynamic.py build_cnn"},
            "per_tensor_hybrid_depthwise": "not generated: LiteRT's hybrid DEPTHWISE_CONV_2D reads one weight scale "
                                           "per channel; with a per-tensor scale it reads past it and its output "
                                           "changes from run to run (ai-edge-litert 2.3.0)"}
