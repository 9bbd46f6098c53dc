"""C code generation for the legacy CMSIS-NN q7 API."""
