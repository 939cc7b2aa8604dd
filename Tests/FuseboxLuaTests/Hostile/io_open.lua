
return {
  name = nil,
  allocate = function(site)
    local f = io.open("/etc/passwd")
    return {}
  end,
}
