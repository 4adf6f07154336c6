#include "harness/cli/cli.h"

int main(int argc, char** argv) { return faultline::cli::run_cli(argc, argv); }
