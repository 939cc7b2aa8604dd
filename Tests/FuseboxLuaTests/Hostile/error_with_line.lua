
return {
  name = nil,
  allocate = function(site)
    local nothing = nil
    return nothing.field
  end,
}
