
return {
  name = nil,
  allocate = function(site)
    os.execute("touch /tmp/fusebox-pwned")
    return {}
  end,
}
