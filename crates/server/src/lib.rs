//! checkpost-server: see DESIGN.md. (Being built.)
