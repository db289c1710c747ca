//! Full pull (being written).
