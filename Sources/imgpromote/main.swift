print("imgpromote")
