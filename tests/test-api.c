#include "harness.h"
#include "test.h"
TEST(placeholder) {}
TEST_MAIN(TEST_ENTRY(placeholder))
