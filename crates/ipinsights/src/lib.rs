//! IP Insights model and wire format.
