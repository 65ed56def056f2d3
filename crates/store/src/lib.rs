//! checkpost-store: see DESIGN.md. (Being built.)
