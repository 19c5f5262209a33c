//! The preference-loss library: one file per loss, one enum variant each.
