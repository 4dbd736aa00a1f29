/* quantlens graph export harness: runs an exported model (model.c + model.h) on the exported golden
 * images (golden.h) and compares every layer's output buffer with the golden output, element by element.
 *
 *   cc -std=c99 -O2 -ffp-contract=off -Wall -Werror -I<export dir> -o harness harness.c <export dir>/model.c -lm && ./harness [out.bin]
 *
 * Prints "layer <k> <KIND>: <d> of <n> differ" per layer; exits 0 when nothing differs. Float32 tensors
 * (dtype code 5) are compared by their bits. With out.bin, writes every computed layer output as
 * little-endian int32 (a float as its bits), layer by layer, image by image. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "model.h"
#include "golden.h"

int main(int argc, char **argv) {
    long offsets[QL_NUM_LAYERS + 1];
    long differ[QL_NUM_LAYERS], first_img[QL_NUM_LAYERS], first_el[QL_NUM_LAYERS], total = 0;
    int32_t *all;
    void *input, *out;
    int l;
    long n, i;
    offsets[0] = 0;
    for (l = 0; l < QL_NUM_LAYERS; l++) {
        offsets[l + 1] = offsets[l] + (long)QL_GOLDEN_N * ql_layer_out_size[l];
        differ[l] = 0;
        first_img[l] = first_el[l] = -1;
    }
    all = malloc(sizeof(int32_t) * (size_t)(offsets[QL_NUM_LAYERS] > 0 ? offsets[QL_NUM_LAYERS] : 1));
    /* int32_t and float are both 4 bytes: one allocation serves either input / output type. */
    input = malloc(sizeof(int32_t) * QL_INPUT_SIZE);
    out = malloc(sizeof(int32_t) * QL_OUTPUT_SIZE);
    if (!all || !input || !out) return 3;
    for (n = 0; n < QL_GOLDEN_N; n++) {
        for (i = 0; i < QL_INPUT_SIZE; i++) {
#if QL_INPUT_DTYPE == 5
            ((float *)input)[i] = ql_golden_input[n * QL_INPUT_SIZE + i];
#else
            ((int32_t *)input)[i] = ql_get(ql_golden_input, QL_INPUT_DTYPE, n * QL_INPUT_SIZE + i);
#endif
        }
        if (ql_invoke(input, out) != QL_OK) { fprintf(stderr, "harness: ql_invoke failed\n"); return 3; }
        for (l = 0; l < QL_NUM_LAYERS; l++) {
            const void *y = ql_layer_output(l);
            int32_t *keep = all + offsets[l] + n * ql_layer_out_size[l];
            for (i = 0; i < ql_layer_out_size[l]; i++) {
                /* the buffers hold int32_t, or float (code 5: read as its bits) */
                keep[i] = ql_get(y, ql_layer_out_dtype[l] == 5 ? 5 : 4, i);
                if (keep[i] != ql_get(ql_golden_outputs[l], ql_layer_out_dtype[l], n * ql_layer_out_size[l] + i)) {
                    if (differ[l]++ == 0) { first_img[l] = n; first_el[l] = i; }
                }
            }
        }
    }
    for (l = 0; l < QL_NUM_LAYERS; l++) {
        printf("layer %d %s: %ld of %ld differ", l, ql_layer_kind[l], differ[l], (long)QL_GOLDEN_N * ql_layer_out_size[l]);
        if (differ[l]) printf(" (first: image %ld element %ld)", first_img[l], first_el[l]);
        printf("\n");
        total += differ[l];
    }
    printf("%s: %d images, %d layers, profile %s\n", total ? "MISMATCH" : "BIT-EXACT", QL_GOLDEN_N, QL_NUM_LAYERS, QL_PROFILE);
    if (argc > 1) {
        FILE *f = fopen(argv[1], "wb");
        if (!f) return 3;
        for (i = 0; i < offsets[QL_NUM_LAYERS]; i++) {
            uint32_t v = (uint32_t)all[i];
            unsigned char b[4];
            b[0] = (unsigned char)v; b[1] = (unsigned char)(v >> 8); b[2] = (unsigned char)(v >> 16); b[3] = (unsigned char)(v >> 24);
            fwrite(b, 1, 4, f);
        }
        fclose(f);
    }
    free(all);
    free(input);
    free(out);
    return total ? 1 : 0;
}
