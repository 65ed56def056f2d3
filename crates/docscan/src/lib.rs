//! checkpost-docscan: see DESIGN.md. (Being built.)
