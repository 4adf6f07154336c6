#include "harness/cli/cli.h"

int main(int argc, char** argv) { return faultline::run_cli(argc, argv); }
