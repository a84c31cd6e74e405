"""The dashboard's screens, one a module: main (runs + devices), run, results,
compare, and the modals (launch form, confirm, prompt, help)."""
