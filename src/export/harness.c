/* quantlens export harness — runs an exported model (model.c + model.h) on the
 * exported golden images (golden.h) and compares every layer's output with the
 * golden output, element by element.
 *
 *   cc -std=c99 -O2 -I<export dir> -o harness harness.c <export dir>/model.c && ./harness [out.bin]
 *
 * Prints "layer <k> <KIND>: <d> of <n> differ" per layer; exits 0 when nothing
 * differs. With out.bin, writes every computed layer output as little-endian
 * int32, layer by layer, image by image, element by element.
 *
 * The requantization is TFLite Micro's: M0 * 2^(shift - 31) applied with gemmlowp's
 * SaturatingRoundingDoublingHighMul followed by RoundingDivideByPOT (ROUNDING 0);
 * codes 1 and 2 (LiteRT builtin ties-up shift, single rounding) are here too.
 * SOFTMAX is gemmlowp's fixed-point softmax (TFLM and the reference kernels).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "model.h"
#include "golden.h"

int main(int argc, char **argv) {
    long offsets[QL_NUM_LAYERS + 1];
    offsets[0] = 0;
    for (int l = 0; l < QL_NUM_LAYERS; l++) offsets[l + 1] = offsets[l] + (long)QL_GOLDEN_N * ql_layers[l].out_size;
    int32_t *all = malloc(sizeof(int32_t) * (size_t)(offsets[QL_NUM_LAYERS] > 0 ? offsets[QL_NUM_LAYERS] : 1));
    int32_t *cur = malloc(sizeof(int32_t) * QL_MAX_SIZE);
    if (!all || !cur) return 3;
    long differ[QL_NUM_LAYERS] = {0};
    long first_img[QL_NUM_LAYERS], first_el[QL_NUM_LAYERS];
    for (int l = 0; l < QL_NUM_LAYERS; l++) first_img[l] = first_el[l] = -1;
    for (long n = 0; n < QL_GOLDEN_N; n++) {
        for (int i = 0; i < QL_INPUT_SIZE; i++) cur[i] = ql_get(ql_golden_input, QL_INPUT_DTYPE, n * QL_INPUT_SIZE + i);
        for (int l = 0; l < QL_NUM_LAYERS; l++) {
            const ql_layer_t *L = &ql_layers[l];
            int32_t *y = all + offsets[l] + n * L->out_size;
            if (ql_run_layer(l, cur, y)) { fprintf(stderr, "harness: layer %d cannot run in integers (export with --profile tflm)\n", l); return 3; }
            for (int i = 0; i < L->out_size; i++) {
                if (y[i] != ql_get(ql_golden_outputs[l], L->out_dtype, n * L->out_size + i)) {
                    if (differ[l]++ == 0) { first_img[l] = n; first_el[l] = i; }
                }
            }
            for (int i = 0; i < L->out_size; i++) cur[i] = y[i];
        }
    }
    long total = 0;
    for (int l = 0; l < QL_NUM_LAYERS; l++) {
        printf("layer %d %s: %ld of %ld differ", l, ql_kind_name(ql_layers[l].kind), differ[l], (long)QL_GOLDEN_N * ql_layers[l].out_size);
        if (differ[l]) printf(" (first: image %ld element %ld)", first_img[l], first_el[l]);
        printf("\n");
        total += differ[l];
    }
    printf("%s: %d images, %d layers, profile %s\n", total ? "MISMATCH" : "BIT-EXACT", QL_GOLDEN_N, QL_NUM_LAYERS, QL_PROFILE);
    if (argc > 1) {
        FILE *f = fopen(argv[1], "wb");
        if (!f) return 3;
        for (long i = 0; i < offsets[QL_NUM_LAYERS]; i++) {
            uint32_t v = (uint32_t)all[i];
            unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16), (unsigned char)(v >> 24)};
            fwrite(b, 1, 4, f);
        }
        fclose(f);
    }
    free(all);
    free(cur);
    return total ? 1 : 0;
}
