document.title = "ToggleMaster";
