// test_cuda_link.c: the CUDA build links against the CUDA runtime and cuBLAS
// and answers sensibly with or without a device (this machine has none).
#include "nn/cuda/device.h"
#include "test.h"

static void test_describe(void) {
    char buf[256] = "";
    int count = deal_cuda_describe(buf, sizeof buf);
    printf("  %s\n", buf);
    CHECK(count >= 0);
    CHECK(strlen(buf) > 0);
    if (count == 0) CHECK(strstr(buf, "no CUDA device") != NULL);
    else CHECK(strstr(buf, "cuBLAS") != NULL);
}

int main(void) {
    RUN(test_describe);
    return test_summary();
}
