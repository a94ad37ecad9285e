//! Account facts through NSS (being written).
