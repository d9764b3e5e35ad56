"""What screens show, as pure functions (HTML, figures); no Streamlit here."""
