print("trim: command line under construction")
