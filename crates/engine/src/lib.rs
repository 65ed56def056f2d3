//! checkpost-engine: see DESIGN.md. (Being built.)
