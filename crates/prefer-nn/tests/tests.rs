//! Integration tests of prefer-nn (one binary; the modules are under `nn/`).

mod nn;
