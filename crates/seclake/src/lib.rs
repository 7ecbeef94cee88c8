//! Amazon Security Lake data access.
